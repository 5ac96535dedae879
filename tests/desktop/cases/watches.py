"""Watches view (issue #6) in the real webview, against moto and the fake trainer.

test_watch_reports_a_new_checkpoint_with_a_popup
    Connect to moto (a saved profile, as a user would), open Watches, add a watch on a prefix
    that does not exist yet (the row says it waits), run tests/fixtures/fake_trainer.py (two HF
    checkpoints, trainer_state.json last, max_steps reached at the second): the row shows
    checkpoint-200/ as the latest checkpoint and the run as finished; a Notify call with
    "New checkpoint" for it was captured on the session bus; the in-app notification list has
    it; a click on a history line opens the Browser at the run prefix.
"""

import os
import subprocess
import sys

import e2e
from webdriver import Session

PREFIX = "watched/run1/"


def test_watch_reports_a_new_checkpoint_with_a_popup(driver_url, ctx):
    endpoint, s3 = ctx["moto"], ctx["s3"]
    for o in s3.list_objects_v2(Bucket=e2e.BUCKET, Prefix=PREFIX).get("Contents", []):
        s3.delete_object(Bucket=e2e.BUCKET, Key=o["Key"])
    s = Session(driver_url, e2e.APP)
    try:
        e2e.connect_profile(s, endpoint)
        e2e.nav(s, "watches", "view-watches")
        s.type('[data-testid="watch-url"]', f"s3://{e2e.BUCKET}/{PREFIX}")
        s.js("const el = document.querySelector('[data-testid=\"watch-interval\"]'); el.value = '1'; el.dispatchEvent(new Event('input', {bubbles: true}));")
        s.click('[data-testid="watch-add"]')
        row = '[data-testid^="watch-"][data-status]'
        try:
            s.wait(f'{row}[data-status="waiting"]', timeout=30, what="the watch waiting for a prefix that does not exist yet")
        except Exception as e:
            seen = s.js("return [...document.querySelectorAll('[data-testid^=\"watch-\"][data-status]')].map(r => r.dataset.status + ': ' + r.innerText)")
            raise AssertionError(f"no watch row says waiting; rows: {seen!r}; page: {s.js('return document.body.innerText')[:600]!r}") from e
        ctx["asserts"].append("Watches: a watch on a missing prefix says it waits")
        trainer = os.path.join(e2e.ROOT, "tests", "fixtures", "fake_trainer.py")
        env = dict(os.environ, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_REGION="us-east-1")
        subprocess.run([sys.executable, trainer, endpoint, e2e.BUCKET, PREFIX, "hf", "2", "1"], env=env, check=True, capture_output=True, timeout=120)
        latest = '[data-testid$="-last-checkpoint"]'
        s.wait_until(lambda: (s.find_all(latest) and s.text(latest).strip() == "checkpoint-200/") or None, "checkpoint-200/ as the latest checkpoint", timeout=30)
        s.wait(f'{row}[data-status="finished"]', timeout=20, what="the run finished (max_steps reached)")
        s.wait('[data-testid="watch-line-checkpoint"]')
        e2e.shot(s, "watches")
        ctx["asserts"].append("Watches: fake trainer → row shows checkpoint-200/ (step 200) and status finished")
        mon = ctx["monitor_log"]
        s.wait_until(
            lambda: "New checkpoint" in open(mon, errors="replace").read() and "checkpoint-200/" in open(mon, errors="replace").read(),
            "a Notify call for the new checkpoint on the session bus",
            timeout=20,
        )
        ctx["asserts"].append("org.freedesktop.Notifications.Notify captured with 'New checkpoint' … checkpoint-200/")
        e2e.nav(s, "notifications", "view-notifications")
        s.wait_until(lambda: "New checkpoint" in s.text('[data-testid="view-notifications"]') or None, "the popup mirrored in the in-app list", timeout=20)
        e2e.nav(s, "watches", "view-watches")
        s.click('[data-testid="watch-line-checkpoint"]')
        s.wait('[data-testid="view-browser"]', timeout=20)
        s.wait_until(lambda: s.js("return location.hash") == f"#/browser/{e2e.BUCKET}/{PREFIX}" or None, "the Browser at the run prefix", timeout=10)
        ctx["asserts"].append("click on a watch line opens the Browser at the run prefix; popup mirrored in Notifications")
    finally:
        s.quit()
        e2e.wait_app_exit()
