"""Sync view (issue #12) in the real webview, against moto.

test_sync_conflict_keep_both_ends_with_both_files_on_both_sides
    Connected to moto (a saved profile). A folder and a prefix that differ: notes.txt on both
    sides with different content, data/a.bin only in the folder, remote-only.txt only on S3.
    In Sync: "Local folder…" answers with the dialog's folder (its path shown), then the real
    folder is dropped on the window (the drop replaces it: the page holds only grant tokens);
    add the pair with s3://e2e-lab/synced/. Sync now: the first pass is a union (a.bin up,
    remote-only.txt down) and notes.txt waits as a conflict in the list (the nav shows a badge,
    a native popup — a Notify call on the session bus — asks for a decision).
    "Keep both" on it: both notes.txt (S3's text) and notes.conflict-…-local.txt (the folder's
    text) end up in the folder and on S3, with those contents. Then remote-only.txt is deleted on
    S3: Sync now holds the deletion — the row says so, "Review deletions…" lists exactly
    remote-only.txt with its bytes; "Not now" keeps the file; confirming deletes it locally.
    Continuous sync asks before it goes on; Remove forgets the pair and touches no file.
"""

import os
import re
import subprocess

import e2e
from webdriver import Session

PREFIX = "synced/"


def empty_prefix(s3, prefix):
    for o in s3.list_objects_v2(Bucket=e2e.BUCKET, Prefix=prefix).get("Contents", []):
        s3.delete_object(Bucket=e2e.BUCKET, Key=o["Key"])


def remote_files(s3):
    out = {}
    for o in s3.list_objects_v2(Bucket=e2e.BUCKET, Prefix=PREFIX).get("Contents", []):
        if not o["Key"].endswith("/"):
            out[o["Key"][len(PREFIX):]] = s3.get_object(Bucket=e2e.BUCKET, Key=o["Key"])["Body"].read()
    return out


def local_files(root):
    out = {}
    for d, _, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, root)] = fh.read()
    return out


def write(root, rel, body):
    p = os.path.join(root, rel)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "wb") as f:
        f.write(body)


def state_of(s):
    return s.js("const r = document.querySelector('[data-testid^=\"sync-pair-\"]'); return r ? r.dataset.state : null;")


def wait_state(s, want, what, timeout=60):
    try:
        s.wait_until(lambda: state_of(s) == want or None, what, timeout=timeout)
    except Exception as e:
        raise AssertionError(f"{what}: the row is {state_of(s)!r}; page: {s.js('return document.body.innerText')[:900]!r}") from e


def test_sync_conflict_keep_both_ends_with_both_files_on_both_sides(driver_url, ctx):
    endpoint, s3 = ctx["moto"], ctx["s3"]
    empty_prefix(s3, PREFIX)
    local = os.path.join(ctx["work"], "sync-local")
    os.makedirs(local, exist_ok=True)
    write(local, "notes.txt", b"written on the laptop\n")
    write(local, "data/a.bin", os.urandom(200_000))
    s3.put_object(Bucket=e2e.BUCKET, Key=PREFIX + "notes.txt", Body=b"written on the cluster, longer\n")
    s3.put_object(Bucket=e2e.BUCKET, Key=PREFIX + "remote-only.txt", Body=b"from the cluster\n")
    s = Session(driver_url, e2e.APP)
    try:
        e2e.connect_profile(s, endpoint)
        e2e.nav(s, "sync", "view-sync")
        s.wait('[data-testid="sync-empty"]')
        # The native dialog (its e2e stand-in answers with the download folder) …
        s.click('[data-testid="sync-pick-folder"]')
        s.wait_until(lambda: s.text('[data-testid="sync-local"]') == ctx["download_dir"] or None, "the picked folder's path in the form")
        # … then a drop of the real folder on the window: the shell grants it, the form takes it.
        s.js("window.__trainctlDrop(arguments[0]);", [local])
        s.wait_until(lambda: s.text('[data-testid="sync-local"]') == local or None, "the dropped folder's path in the form")
        ctx["asserts"].append("Sync: 'Local folder…' and a dropped folder both fill the pair's local side (grant tokens)")
        s.type('[data-testid="sync-remote"]', f"s3://{e2e.BUCKET}/{PREFIX}")
        s.click('[data-testid="sync-add"]')
        row = s.wait('[data-testid^="sync-pair-"]', timeout=20)
        pid = s.js("return document.querySelector('[data-testid^=\"sync-pair-\"]').dataset.testid.slice('sync-pair-'.length);")
        assert s.text(f'[data-testid="sync-{pid}-local"]') == local
        assert s.text(f'[data-testid="sync-{pid}-remote"]') == f"s3://{e2e.BUCKET}/{PREFIX}"
        assert row

        # First pass: a union; notes.txt differs on the two sides → a conflict to decide.
        s.click(f'[data-testid="sync-{pid}-run"]')
        wait_state(s, "needs_decision", "the first pass to stop at the conflict")
        conflict = '[data-testid="sync-conflict"][data-path="notes.txt"]'
        s.wait(conflict)
        assert len(s.find_all('[data-testid="sync-conflict"]')) == 1, s.text(f'[data-testid="sync-{pid}-conflicts"]')
        s.wait('[data-testid="nav-sync-badge"]')
        remote = remote_files(s3)
        assert "data/a.bin" in remote and remote["notes.txt"] == b"written on the cluster, longer\n", sorted(remote)
        assert local_files(local).get("remote-only.txt") == b"from the cluster\n", sorted(local_files(local))
        e2e.shot(s, "sync-conflict")
        # The X server's own view of the window too (what a user sees; kept with the run's logs).
        grab = os.path.join(ctx["work"], "sync-conflict-root.png")
        if subprocess.run(["import", "-window", "root", grab], capture_output=True, timeout=30).returncode == 0:
            e2e.log(f"X root grab {grab}")
        mon = ctx["monitor_log"]
        s.wait_until(lambda: "Sync needs a decision" in open(mon, errors="replace").read() or None, "a Notify call asking for the conflict's decision", timeout=20)
        ctx["asserts"].append("Sync: first pass copies both ways (a.bin up, remote-only.txt down); notes.txt listed as a conflict, nav badge shown, a native popup asks for a decision")

        # Keep both: the folder's version is renamed NAME.conflict-…-local.EXT and both go everywhere.
        s.click(f'{conflict} [data-testid="sync-conflict-keep-both"]')
        wait_state(s, "idle", "the pass after 'Keep both' to end")
        s.wait_gone('[data-testid="sync-conflict"]', timeout=10)
        loc, rem = local_files(local), remote_files(s3)
        kept = [k for k in loc if re.fullmatch(r"notes\.conflict-\d{8}-\d{6}-local\.txt", k)]
        assert len(kept) == 1, sorted(loc)
        for side, files in (("folder", loc), ("S3", rem)):
            assert files.get("notes.txt") == b"written on the cluster, longer\n", (side, sorted(files))
            assert files.get(kept[0]) == b"written on the laptop\n", (side, sorted(files))
        assert sorted(loc) == sorted(rem), (sorted(loc), sorted(rem))
        last = s.text(f'[data-testid="sync-{pid}-last"]')
        assert "Last pass" in last, last
        ctx["asserts"].append(f"Sync: 'Keep both' → notes.txt and {kept[0]} on both sides with their own contents; both sides list the same files")

        # A deletion on S3 is held until the user saw the list.
        s3.delete_object(Bucket=e2e.BUCKET, Key=PREFIX + "remote-only.txt")
        s.click(f'[data-testid="sync-{pid}-run"]')
        wait_state(s, "needs_confirmation", "the pass to hold its deletion")
        held = s.text(f'[data-testid="sync-{pid}-held"]')
        assert "1 file" in held and "1 in the folder" in held, held
        assert os.path.exists(os.path.join(local, "remote-only.txt")), "deleted before the confirmation"
        s.click(f'[data-testid="sync-{pid}-review"]')
        s.wait('[data-testid="sync-confirm-dialog"]')
        items = s.js("return [...document.querySelectorAll('[data-testid=\"sync-confirm-list\"] li')].map(li => li.dataset.side + ' ' + li.textContent.replace(/\\s+/g, ' ').trim())")
        assert items == ["local folder remote-only.txt 17 B"], items
        assert s.text('[data-testid="sync-confirm-total"]') == "17 B"
        e2e.shot(s, "sync-confirm")
        s.click('[data-testid="sync-confirm-cancel"]')
        s.wait_gone('[data-testid="sync-confirm-dialog"]', timeout=10)
        assert os.path.exists(os.path.join(local, "remote-only.txt")), "'Not now' deleted the file"
        s.click(f'[data-testid="sync-{pid}-review"]')
        s.click('[data-testid="sync-confirm-apply"]')
        wait_state(s, "idle", "the confirmed pass to end")
        s.wait_until(lambda: not os.path.exists(os.path.join(local, "remote-only.txt")) or None, "the held file to be deleted", timeout=20)
        assert sorted(local_files(local)) == sorted(remote_files(s3))
        ctx["asserts"].append("Sync: a deletion on S3 is held; the dialog lists exactly remote-only.txt (17 B); 'Not now' keeps it; confirm deletes it")

        # Continuous sync asks first; cancelling leaves it off.
        s.click(f'[data-testid="sync-{pid}-continuous"]')
        s.wait('[data-testid="sync-continuous-dialog"]')
        s.click('[data-testid="sync-continuous-cancel"]')
        s.wait_gone('[data-testid="sync-continuous-dialog"]', timeout=10)
        assert s.js(f"return document.querySelector('[data-testid=\"sync-{pid}-continuous\"]').checked") is False
        e2e.shot(s, "sync")
        before = local_files(local)
        s.click(f'[data-testid="sync-{pid}-remove"]')
        s.wait('[data-testid="sync-empty"]', timeout=10)
        assert local_files(local) == before and sorted(remote_files(s3)) == sorted(before)
        ctx["asserts"].append("Sync: continuous asks before it goes on; Remove forgets the pair and touches no file")
    finally:
        s.quit()
        e2e.wait_app_exit()
