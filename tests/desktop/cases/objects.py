"""The Browser's object panel (issue #17) in the real webview, on moto.

test_object_panel_shares_tags_and_restores_a_version
    A versioned bucket with two versions of runs/model ckpt #1.pt (a key awkward in URLs). In the
    Browser: select it → Details. A share link created in the panel downloads the object with plain
    HTTP (urllib); tags typed in the panel are read back by boto3; the older version is restored
    through the confirm dialog and boto3 then reads the older bytes, with the newer version kept.

test_rename_moves_a_folder_and_refuses_to_overwrite
    runs/exp-1/ (a checkpoint folder, a log and a key with ' #?%é') renamed to runs/exp-2/ with the
    Rename dialog: the plan lists every move, "Move" copies on the server and the old keys go (boto3
    reads the bytes at the new keys). A second rename onto a key that exists shows the conflict
    and its Move button stays disabled; nothing is overwritten.
"""

import urllib.request

import e2e
from webdriver import Session

BUCKET = "panel"
KEY = "runs/model ckpt #1.pt"


def test_object_panel_shares_tags_and_restores_a_version(driver_url, ctx):
    s3 = ctx["s3"]
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=b"version one")
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=b"version two, longer")
    s = Session(driver_url, e2e.APP)
    try:
        e2e.connect_profile(s, ctx["moto"], name="panel")
        s.js("location.hash = arguments[0];", f"#/browser/{BUCKET}/runs/")
        row = f'[data-testid="object-row"][data-key="{KEY}"]'
        s.wait(row, timeout=20, what="the object row")
        s.click(f"{row} [data-testid=\"row-select\"]")
        s.click('[data-testid="object-details-open"]')
        s.wait('[data-testid="object-panel"] [data-testid="object-etag"]', timeout=20, what="the object panel")

        s.click('[data-testid="share-create"]')
        s.wait('[data-testid="share-url"]', timeout=20, what="a share link")
        url = s.js("return document.querySelector('[data-testid=\"share-url\"]').value")
        with urllib.request.urlopen(url, timeout=20) as r:
            assert r.read() == b"version two, longer"
        ctx["asserts"].append("object panel: a share link downloads the object with plain HTTP")

        s.type('[data-testid="tag-key"]', "run")
        s.type('[data-testid="tag-value"]', "llama-7b")
        s.click('[data-testid="tags-save"]')
        s.wait_until(lambda: {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=BUCKET, Key=KEY)["TagSet"]} == {"run": "llama-7b"},
                     "the tags on the server", timeout=20)
        ctx["asserts"].append("object panel: tags typed in the app are read back by boto3")

        s.wait('[data-testid="version-row"][data-latest="false"] [data-testid="version-restore"]', timeout=20, what="the older version")
        e2e.shot(s, "browser-object-panel")
        s.click('[data-testid="version-row"][data-latest="false"] [data-testid="version-restore"]')
        s.wait('[data-testid="restore-dialog"][open]', timeout=20, what="the restore confirm dialog")
        s.click('[data-testid="restore-confirm"]')
        s.wait_until(lambda: s3.get_object(Bucket=BUCKET, Key=KEY)["Body"].read() == b"version one", "the older bytes current again", timeout=20)
        versions = [v for v in s3.list_object_versions(Bucket=BUCKET, Prefix=KEY).get("Versions", []) if v["Key"] == KEY]
        assert len(versions) == 3, versions
        ctx["asserts"].append("object panel: Restore (confirmed) makes the older version current; 3 versions kept")
    finally:
        s.quit()
        e2e.wait_app_exit()


def test_keyboard_reaches_and_opens_a_checkpoint(driver_url, ctx):
    """On the demo: arrows move the cursor through a run's folders, Enter opens the checkpoint,
    Backspace goes back up, typing filters the list."""
    s = Session(driver_url, e2e.APP)
    try:
        e2e.open_demo(s)
        run = "runs/llama-7b-sft/"
        s.js("location.hash = arguments[0];", f"#/browser/demo-training/{run}")
        target = f"{run}checkpoint-3000/"
        s.wait(f'[data-testid="folder-row"][data-key="{target}"]', timeout=30, what="the run's checkpoints")
        s.js("document.activeElement && document.activeElement.blur()")
        s.press("home")
        cursor = "return document.querySelector('.row.cursor')?.dataset.key"
        for _ in range(20):
            if s.js(cursor) == target:
                break
            s.press("down")
        assert s.js(cursor) == target, s.js(cursor)
        s.press("enter")
        s.wait(f'[data-testid="crumb"][data-prefix="{target}"]', timeout=20, what="the checkpoint opened")
        s.wait('[data-testid="object-row"]', timeout=20, what="the checkpoint's files")
        s.press("backspace")
        s.wait(f'[data-testid="folder-row"][data-key="{target}"]', timeout=20, what="back in the run")
        s.js("document.activeElement && document.activeElement.blur()")
        s.press("c", "h", "e", "c", "k")
        s.wait_until(lambda: s.js("return document.querySelector('[data-testid=\"browser-filter\"]').value") == "check", "typing to filter")
        ctx["asserts"].append("keyboard: arrows reach checkpoint-3000/, Enter opens it, Backspace goes up, typing filters")
    finally:
        s.quit()
        e2e.wait_app_exit()


def test_run_folder_shows_checkpoints_with_steps_sizes_and_markers(driver_url, ctx):
    """On the demo: a run's folder lists its checkpoints as checkpoints (step, size, completeness,
    newest and best markers); selecting one offers its download estimate, resume command, pin and
    the planner; the runs/ folder shows each run's checkpoint count."""
    s = Session(driver_url, e2e.APP)
    try:
        e2e.open_demo(s)
        s.js("location.hash = arguments[0];", "#/browser/demo-training/runs/")
        s.wait('[data-testid="folder-row"][data-key="runs/llama-7b-sft/"] [data-testid="run-info"]', timeout=40, what="the run summary")
        count = int(s.attr('[data-testid="folder-row"][data-key="runs/llama-7b-sft/"] [data-testid="run-info"]', "data-checkpoints"))
        assert count >= 3, count
        s.click('[data-testid="folder-row"][data-key="runs/llama-7b-sft/"] [data-testid="folder-open"]')
        row = '[data-testid="folder-row"][data-key="runs/llama-7b-sft/checkpoint-3000/"]'
        s.wait(f"{row} [data-testid=\"checkpoint-info\"]", timeout=40, what="checkpoint-3000 shown as a checkpoint")
        assert s.attr(f"{row} [data-testid=\"checkpoint-info\"]", "data-step") == "3000"
        crashed = '[data-testid="folder-row"][data-key="runs/llama-7b-sft/checkpoint-3500/"] [data-testid="checkpoint-info"]'
        s.wait(crashed, timeout=20, what="the crashed save shown as a checkpoint")
        assert s.attr(crashed, "data-abandoned") == "true", s.attr(crashed, "data-abandoned")
        assert s.text(f"{crashed} [data-testid=\"checkpoint-state\"]") == "abandoned"
        marks = s.js("return [...document.querySelectorAll('[data-testid=\"checkpoint-info\"]')].map(e => e.dataset.markers).join(' ')")
        assert "newest" in marks and "best" in marks, marks
        size = s.text(f"{row} [data-testid=\"row-size\"]")
        assert size and size != "", size
        s.click(f"{row} [data-testid=\"row-select\"]")
        s.wait('[data-testid="checkpoint-estimate"]', timeout=10)
        est = s.text('[data-testid="checkpoint-estimate"]')
        assert "egress" in est, est
        for b in ("checkpoint-copy-resume", "checkpoint-pin", "checkpoint-plan-cleanup", "checkpoint-open-runs"):
            s.wait(f'[data-testid="{b}"]', timeout=5)
        e2e.shot(s, "browser-checkpoints")
        ctx["asserts"].append(f"Browser knows checkpoints: runs/ shows {count} checkpoints for llama-7b-sft; checkpoint-3000 step/size/markers ({marks.split()[:3]}); estimate: {est}")
    finally:
        s.quit()
        e2e.wait_app_exit()


def review_rename(s, row, to, shown):
    """Selects `row`, opens the Rename dialog, asks for `to` and waits for `shown` (the plan)."""
    s.wait(row, timeout=20, what=f"the row {row}")
    s.click(f'{row} [data-testid="row-select"]')
    s.click('[data-testid="rename-selection"]')
    s.wait('[data-testid="rename-dialog"][open]', timeout=20, what="the rename dialog")
    s.type('[data-testid="rename-to"]', to)
    s.click('[data-testid="rename-review"]')
    s.wait(shown, timeout=20, what=f"the plan's {shown}")


def test_rename_moves_a_folder_and_refuses_to_overwrite(driver_url, ctx):
    s3 = ctx["s3"]
    bucket = "renames"
    s3.create_bucket(Bucket=bucket)
    awkward = "runs/exp-1/notes #1 ?%é.txt"  # URL- and file-name-awkward characters move too
    files = {"runs/exp-1/checkpoint-100/model.safetensors": b"w" * 4096, "runs/exp-1/train.log": b"step 100\n", awkward: b"odd", "runs/taken.log": b"mine"}
    for k, v in files.items():
        s3.put_object(Bucket=bucket, Key=k, Body=v)
    s = Session(driver_url, e2e.APP)
    try:
        e2e.connect_profile(s, ctx["moto"], name="renames")
        s.js("location.hash = arguments[0];", f"#/browser/{bucket}/runs/")
        review_rename(s, '[data-testid="folder-row"][data-key="runs/exp-1/"]', "runs/exp-2/", '[data-testid="rename-moves"]')
        moves = s.text('[data-testid="rename-moves"]')
        assert "runs/exp-1/train.log → runs/exp-2/train.log" in moves, moves
        e2e.shot(s, "browser-rename")
        s.click('[data-testid="rename-confirm"]')
        s.wait_gone('[data-testid="rename-dialog"]', timeout=30)
        keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []))
        assert keys == ["runs/exp-2/checkpoint-100/model.safetensors", "runs/exp-2/notes #1 ?%é.txt", "runs/exp-2/train.log", "runs/taken.log"], keys
        assert s3.get_object(Bucket=bucket, Key="runs/exp-2/notes #1 ?%é.txt")["Body"].read() == b"odd"
        assert s3.get_object(Bucket=bucket, Key="runs/exp-2/checkpoint-100/model.safetensors")["Body"].read() == b"w" * 4096
        s.wait('[data-testid="folder-row"][data-key="runs/exp-2/"]', timeout=20, what="the renamed folder listed")
        ctx["asserts"].append("Rename dialog: runs/exp-1/ → runs/exp-2/ lists 3 moves (one key with ' #?%é'); after Move boto3 lists exactly the renamed keys with their bytes, the old ones gone")

        s.js("location.hash = arguments[0];", f"#/browser/{bucket}/runs/exp-2/")
        review_rename(s, '[data-testid="object-row"][data-key="runs/exp-2/train.log"]', "runs/taken.log", '[data-testid="rename-conflicts"]')
        assert s.js("return document.querySelector('[data-testid=\"rename-confirm\"]').disabled;"), "Move is enabled over an existing key"
        s.click('[data-testid="rename-cancel"]')
        s.wait_gone('[data-testid="rename-dialog"]')
        assert s3.get_object(Bucket=bucket, Key="runs/taken.log")["Body"].read() == b"mine"
        ctx["asserts"].append("Rename onto an existing key: the conflict is shown, Move stays disabled, nothing overwritten")
    finally:
        s.quit()
        e2e.wait_app_exit()
