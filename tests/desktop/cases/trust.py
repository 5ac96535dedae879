"""The webview is untrusted (issue #10): forged calls from the page are refused, in the real app.

test_forged_calls_from_the_page_are_refused
    On the demo, the page's own `invoke` (what a compromised page could call) is used to ask for
    what the UI never offers: upload a path nobody dropped (~/.aws/credentials), download into a
    folder nobody picked, apply a plan the shell never made (and one given as a whole object),
    read a metrics "source" outside the offered list, call the removed raw-path command
    `upload_paths`, and plugin commands the capability does not allow (dialog, notification,
    window-state). Each is refused; nothing is written.

test_hostile_folder_keys_download_nothing_outside_the_chosen_folder
    A bucket on moto holds keys under `../`, `./` and `a//b` next to a plain folder. They are
    listed as folder rows in the Browser; all of them selected and downloaded into the picked
    folder: the plain folder arrives, the hostile ones fail one by one (unsafe_key, shown on the
    Transfers row), and nothing is written outside the picked folder.
"""

import json
import os

import e2e
from webdriver import Session

INVOKE = """
const [cmd, args] = arguments;
try {
  const v = await window.__TAURI_INTERNALS__.invoke(cmd, args);
  return {ok: true, value: v === undefined ? null : v};
} catch (e) {
  return {ok: false, error: typeof e === 'string' ? e : JSON.stringify(e)};
}
"""


def forged(s, cmd, args):
    """Calls `cmd` from the page; returns the refusal text (fails when the call succeeds)."""
    out = s.js_async(INVOKE.replace("const [cmd, args] = arguments;", f"const [cmd, args] = [{json.dumps(cmd)}, {json.dumps(args)}];"))
    assert not out["ok"], f"{cmd} {args} was accepted: {out}"
    return out["error"]


def test_forged_calls_from_the_page_are_refused(driver_url, ctx):
    s = Session(driver_url, e2e.APP)
    try:
        e2e.open_demo(s)
        home = os.path.expanduser("~")
        secret = os.path.join(home, ".aws", "credentials")
        refusals = {
            "upload of a path nobody dropped": forged(s, "upload_dropped", {"tokens": [secret], "bucket": "demo-training", "prefix": "x/"}),
            "download into a folder nobody picked": forged(s, "download_keys", {"bucket": "demo-training", "keys": ["runs/"], "dest": "/tmp"}),
            "a made-up grant token": forged(s, "download_keys", {"bucket": "demo-training", "keys": ["runs/"], "dest": "grant-" + "0" * 32}),
            "a plan the shell never made": forged(s, "delete_apply", {"plan_id": 987654}),
            "a plan handed over whole": forged(s, "delete_apply", {"plan": {"bucket": "demo-training", "items": [{"key": "runs/x", "size": 1}], "bytes": 1}}),
            "a lifecycle plan never made": forged(s, "lifecycle_apply", {"plan_id": 987654}),
            "a metrics source not offered": forged(s, "run_metrics", {"location": "s3://demo-training/runs/", "run": "llama-7b-sft", "source": "../../../etc/passwd"}),
            "a local location nobody picked": forged(s, "runs_list", {"location": home}),
            "the removed raw-path upload": forged(s, "upload_paths", {"paths": [secret], "bucket": "demo-training", "prefix": ""}),
            "the dialog plugin": forged(s, "plugin:dialog|open", {"options": {"directory": True}}),
            "the notification plugin": forged(s, "plugin:notification|notify", {"options": {"title": "x"}}),
            "the window-state plugin": forged(s, "plugin:window-state|save_window_state", {"flags": 1}),
        }
        for what, text in refusals.items():
            e2e.log(f"refused: {what}: {text[:140]}")
        assert '"code":"usage"' in refusals["upload of a path nobody dropped"], refusals
        assert '"code":"plan_stale"' in refusals["a plan the shell never made"], refusals
        assert '"code":"usage"' in refusals["a metrics source not offered"], refusals
        for plugin in ("the dialog plugin", "the notification plugin", "the window-state plugin", "the removed raw-path upload"):
            assert "not allowed" in refusals[plugin] or "not found" in refusals[plugin], (plugin, refusals[plugin])
        keys = s.js_async("return (await window.__TAURI_INTERNALS__.invoke('objects_list', {bucket: 'demo-training', prefix: 'x/', token: null})).objects.length")
        assert keys == 0, keys
        ctx["asserts"].append(f"{len(refusals)} forged calls from the page refused (paths nobody dropped or picked, plans never made, an unoffered metrics source, commands and plugins the capability does not allow)")
    finally:
        s.quit()
        e2e.wait_app_exit()


def test_hostile_folder_keys_download_nothing_outside_the_chosen_folder(driver_url, ctx):
    s3, work = ctx["s3"], ctx["work"]
    bucket = "hostile-keys"
    s3.create_bucket(Bucket=bucket)
    for key in ("../evil.txt", "./dot.txt", "a//b.txt", "good/x.txt"):
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    stored = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    dl = ctx["download_dir"]
    before = set(os.listdir(os.path.dirname(dl)))
    s = Session(driver_url, e2e.APP)
    try:
        e2e.connect_profile(s, ctx["moto"], name="hostile")
        s.click(f'[data-testid="bucket-row"][data-bucket="{bucket}"]', timeout=20)
        s.wait('[data-testid="folder-row"][data-key="good/"]', timeout=20)
        rows = s.js("return [...document.querySelectorAll('[data-testid=\"folder-row\"]')].map(r => r.dataset.key)")
        e2e.log(f"folder rows: {rows} (stored keys: {stored})")
        for key in rows:
            s.click(f'[data-testid="folder-row"][data-key="{key}"] [data-testid="row-select"]')
        s.click('[data-testid="download-selection"]')
        target = os.path.join(dl, "good", "x.txt")
        s.wait_until(lambda: os.path.exists(target), "good/x.txt downloaded", timeout=60)
        e2e.nav(s, "transfers", "view-transfers")
        hostile = [k for k in stored if k.startswith(("../", "./")) or "//" in k]
        if hostile:
            s.wait('[data-testid="transfer-row"][data-state="partial"]', timeout=60, what="a partial download (hostile folders refused)")
            e2e.shot(s, "transfers-hostile-keys")
        after = set(os.listdir(os.path.dirname(dl)))
        assert after == before, f"written next to the picked folder: {after - before}"
        written = sorted(os.path.relpath(os.path.join(r, f), dl) for r, _, fs in os.walk(dl) for f in fs)
        assert "evil.txt" not in written and all(".." not in w for w in written), written
        ctx["asserts"].append(f"Browser download of folder rows {rows}: good/x.txt written, {len(hostile)} hostile keys refused, nothing outside the picked folder")
    finally:
        s.quit()
        e2e.wait_app_exit()
