"""Watches view (issue #6) in the real webview, against moto and the fake trainer.

test_watch_reports_a_new_checkpoint_with_a_popup
    Connect to moto (a saved profile, as a user would), open Watches, add a watch on a prefix
    that does not exist yet (the row says it waits), run tests/fixtures/fake_trainer.py (two HF
    checkpoints, trainer_state.json last, max_steps reached at the second): the row shows
    checkpoint-200/ as the latest checkpoint and the run as finished; a Notify call with
    "New checkpoint" for it was captured on the session bus; the in-app notification list has
    it; a click on a history line opens the Browser at the run prefix.

test_watches_persist_pause_resume_and_remove_across_restarts
    On the demo: add two watches, pause one; quit the app. A new app (first-run screen, demo
    chosen again) lists both from watches.json: the paused one still paused, the other one
    started by itself once the demo connection exists (not stuck at "no connection"). Resume
    the paused one, remove the other: watches.json keeps exactly the resumed one, unpaused.

test_a_watch_keeps_running_in_the_tray_after_the_window_closes
    Connected to moto, a watch on a prefix that does not exist yet; the window's close button
    (WM_DELETE_WINDOW, as a window manager sends it) hides the window instead of quitting; the
    fake trainer then writes a checkpoint and its "New checkpoint" popup reaches the session bus
    while no window is visible.
"""

import os
import subprocess
import sys

import e2e
from webdriver import Session

PREFIX = "watched/run1/"


def empty_prefix(s3, prefix):
    """Deletes what an earlier run left under `prefix` (the suite shares one moto)."""
    for o in s3.list_objects_v2(Bucket=e2e.BUCKET, Prefix=prefix).get("Contents", []):
        s3.delete_object(Bucket=e2e.BUCKET, Key=o["Key"])


def remove_all_watches(s):
    """No watch left running: the window's close would otherwise keep the app in the tray."""
    s.js("document.querySelectorAll('[data-testid^=\"watch-\"][data-testid$=\"-remove\"]').forEach((b) => b.click())")
    s.wait('[data-testid="watches-empty"]', timeout=10)


def settled(s, watch_id):
    """Waits for the first poll's line under a watch's row. The line makes the row taller and moves
    every row below it down: a WebDriver click aimed at a button there just before the line arrived
    lands in the gap between two cards and does nothing (the cause of a flaky pause in CI). After
    the first line the row changes only on the next poll, an interval later."""
    s.wait(f'[data-testid="watch-{watch_id}-history"]', timeout=30, what=f"the first poll's line of watch {watch_id}")


def add_watch(s, prefix, interval="1"):
    """Fills the Watches form for `s3://BUCKET/prefix` with a short interval and adds it."""
    s.type('[data-testid="watch-url"]', f"s3://{e2e.BUCKET}/{prefix}")
    s.js(f"const el = document.querySelector('[data-testid=\"watch-interval\"]'); el.value = '{interval}'; el.dispatchEvent(new Event('input', {{bubbles: true}}));")
    s.click('[data-testid="watch-add"]')


def test_watch_reports_a_new_checkpoint_with_a_popup(driver_url, ctx):
    endpoint, s3 = ctx["moto"], ctx["s3"]
    empty_prefix(s3, PREFIX)
    s = Session(driver_url, e2e.APP)
    try:
        e2e.connect_profile(s, endpoint)
        e2e.nav(s, "watches", "view-watches")
        add_watch(s, PREFIX)
        row = '[data-testid^="watch-"][data-status]'
        try:
            s.wait(f'{row}[data-status="waiting"]', timeout=30, what="the watch waiting for a prefix that does not exist yet")
        except Exception as e:
            seen = s.js("return [...document.querySelectorAll('[data-testid^=\"watch-\"][data-status]')].map(r => r.dataset.status + ': ' + r.innerText)")
            raise AssertionError(f"no watch row says waiting; rows: {seen!r}; page: {s.js('return document.body.innerText')[:600]!r}") from e
        ctx["asserts"].append("Watches: a watch on a missing prefix says it waits")
        trainer = os.path.join(e2e.ROOT, "tests", "fixtures", "fake_trainer.py")
        env = dict(os.environ, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_REGION="us-east-1")
        # Only this run's popups on screen (the daemon keeps them until acted on): the oldest one
        # left is the first new-checkpoint popup, which the click below acts on.
        subprocess.run(["dunstctl", "close-all"], check=False, capture_output=True, timeout=10)
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
        s.wait_until(lambda: "Run finished" in open(mon, errors="replace").read() or None, "a Notify call for the finished run on the session bus", timeout=20)
        ctx["asserts"].append("org.freedesktop.Notifications.Notify captured with 'Run finished'")
        # A click on the popup itself (the daemon invokes its default action) opens the run.
        e2e.nav(s, "dashboard", "view-dashboard")
        shown = subprocess.run(["dunstctl", "count", "displayed"], capture_output=True, text=True, timeout=10).stdout.strip()
        subprocess.run(["dunstctl", "action", "0"], check=True, capture_output=True, timeout=10)
        s.wait_until(
            lambda: s.js("return location.hash") == f"#/browser/{e2e.BUCKET}/{PREFIX}" or None,
            f"the Browser at the run prefix after a click on the popup ({shown} popups displayed)",
            timeout=20,
        )
        ctx["asserts"].append("a click on the native popup (dunst default action) opens the Browser at the run prefix")
        e2e.nav(s, "notifications", "view-notifications")
        s.wait_until(lambda: "New checkpoint" in s.text('[data-testid="view-notifications"]') or None, "the popup mirrored in the in-app list", timeout=20)
        s.click('[data-testid="notification-open-run"]')
        s.wait('[data-testid="view-browser"]', timeout=20)
        s.wait_until(lambda: s.js("return location.hash") == f"#/browser/{e2e.BUCKET}/{PREFIX}" or None, "the Browser at the run prefix (from the notification)", timeout=10)
        ctx["asserts"].append("Open run on the mirrored notification opens the Browser at the run prefix")
        e2e.nav(s, "watches", "view-watches")
        s.click('[data-testid="watch-line-checkpoint"]')
        s.wait('[data-testid="view-browser"]', timeout=20)
        s.wait_until(lambda: s.js("return location.hash") == f"#/browser/{e2e.BUCKET}/{PREFIX}" or None, "the Browser at the run prefix", timeout=10)
        ctx["asserts"].append("click on a watch line opens the Browser at the run prefix; popup mirrored in Notifications")
        e2e.nav(s, "watches", "view-watches")
        remove_all_watches(s)
    finally:
        s.quit()
        e2e.wait_app_exit()


ROWS_JS = """return [...document.querySelectorAll('article[data-testid^="watch-"][data-status]')].map(r => ({
  id: r.dataset.testid.slice(6), status: r.dataset.status,
  url: r.querySelector('[data-testid$="-open"]').textContent.trim()}))"""


def test_watches_persist_pause_resume_and_remove_across_restarts(driver_url, ctx):
    import json

    a, b = "s3://demo-training/runs/llama-7b-sft/", "s3://demo-training/runs/"
    store = os.path.join(ctx["work"], "config", "trainctl", "watches.json")

    def rows(s):
        return {r["url"]: r for r in s.js(ROWS_JS)}

    def demo(s):
        s.wait('[data-testid="view-first-run"]', timeout=90, what="the first-run screen")
        s.click('[data-testid="try-demo"]')
        s.wait('[data-testid="view-dashboard"]', timeout=40)
        e2e.nav(s, "watches", "view-watches")

    if os.path.exists(store):  # earlier tests' watches (this file persists across launches)
        os.remove(store)
    s = Session(driver_url, e2e.APP)
    try:
        demo(s)
        for url in (a, b):
            s.js("const el = document.querySelector('[data-testid=\"watch-url\"]'); el.value = arguments[0]; el.dispatchEvent(new Event('input', {bubbles: true}));", url)
            s.click('[data-testid="watch-add"]')
            s.wait_until(lambda u=url: u in rows(s) or None, f"the row of {url}", timeout=20)
        s.wait_until(lambda: rows(s)[a]["status"] not in ("no_connection", "error") or None, "watch A polling", timeout=20)
        settled(s, rows(s)[a]["id"])
        s.click(f'[data-testid="watch-{rows(s)[b]["id"]}-pause"]')
        s.wait_until(lambda: rows(s)[b]["status"] == "paused" or None, "watch B paused", timeout=10)
    finally:
        s.quit()
        e2e.wait_app_exit()
    saved = {w["url"]: w for w in json.load(open(store))}
    assert set(saved) == {a, b} and saved[b]["paused"] and not saved[a]["paused"], saved

    s = Session(driver_url, e2e.APP)
    try:
        demo(s)
        s.wait_until(lambda: set(rows(s)) == {a, b} or None, "both watches restored", timeout=20)
        s.wait_until(lambda: rows(s)[a]["status"] not in ("no_connection", "error", "paused") or None,
                     "the unpaused watch started once the demo connected", timeout=20)
        assert rows(s)[b]["status"] == "paused", rows(s)
        settled(s, rows(s)[a]["id"])
        ctx["asserts"].append(f"after a restart: both watches listed, A {rows(s)[a]['status']} by itself, B still paused")
        s.click(f'[data-testid="watch-{rows(s)[b]["id"]}-resume"]')
        s.wait_until(lambda: rows(s)[b]["status"] not in ("paused", "no_connection") or None, "watch B resumed", timeout=20)
        s.click(f'[data-testid="watch-{rows(s)[a]["id"]}-remove"]')
        s.wait_until(lambda: set(rows(s)) == {b} or None, "watch A removed", timeout=10)
        saved = json.load(open(store))
        assert [(w["url"], w["paused"]) for w in saved] == [(b, False)], saved
        ctx["asserts"].append("resume + remove saved: watches.json holds only B, unpaused")
        remove_all_watches(s)
    finally:
        s.quit()
        e2e.wait_app_exit()
    if os.path.exists(store):
        os.remove(store)  # later tests start without watches


def test_a_watch_keeps_running_in_the_tray_after_the_window_closes(driver_url, ctx):
    import importlib.util
    import time

    spec = importlib.util.spec_from_file_location("e2e_case_platform", os.path.join(os.path.dirname(__file__), "platform.py"))
    plat = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(plat)  # its X helpers: x_close_window, visible_windows
    endpoint, s3 = ctx["moto"], ctx["s3"]
    prefix = "tray/run1/"
    store = os.path.join(ctx["work"], "config", "trainctl", "watches.json")
    if os.path.exists(store):
        os.remove(store)
    empty_prefix(s3, prefix)
    s = Session(driver_url, e2e.APP)
    try:
        e2e.connect_profile(s, endpoint)
        e2e.nav(s, "watches", "view-watches")
        add_watch(s, prefix)
        s.wait('[data-testid^="watch-"][data-status="waiting"]', timeout=30, what="the watch waiting for its prefix")
        plat.x_close_window()
        s.wait_until(lambda: not plat.visible_windows() or None, "the window to hide (a watch runs)", timeout=20)
        trainer = os.path.join(e2e.ROOT, "tests", "fixtures", "fake_trainer.py")
        env = dict(os.environ, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_REGION="us-east-1")
        subprocess.run([sys.executable, trainer, endpoint, e2e.BUCKET, prefix, "hf", "1", "0", "--max-steps", "1000"], env=env, check=True, capture_output=True, timeout=120)
        mon = ctx["monitor_log"]
        s.wait_until(lambda: f"{prefix}checkpoint-100/" in open(mon, errors="replace").read() or None,
                     "the New checkpoint popup while the window is hidden", timeout=30)
        assert not plat.visible_windows(), "the window came back"
        ctx["asserts"].append("window closed with a watch running → hidden to the tray; the watch still popped up 'New checkpoint' for tray/run1/checkpoint-100/")
        remove_all_watches(s)
    finally:
        s.quit()
        e2e.wait_app_exit()
        if os.path.exists(store):
            os.remove(store)
