"""Platform cases of the desktop issue (#3) that need the real app: bad-input paths.

test_endpoint_down_banner
    A profile on a second moto_server the test owns; the Browser lists its bucket; the server is
    killed → Refresh raises the connection banner while the rows already on screen stay; the
    server comes back on the same port → the banner's Retry clears it and the listing reloads.
test_drop_50k_files
    A folder of 50,000 tiny files dropped through the drop handler (window.__trainctlDrop →
    e2e_drop → upload_dropped): the Transfers row is planned with exactly 50,000 objects, progress aggregates
    (objects_done grows), and the window stays responsive throughout (navigation clicks and a
    script round trip each answer within RESPONSIVE_S). Then the job is cancelled (a full 50k
    upload to moto would take minutes) and must end `cancelled`.
test_close_with_transfers_asks
    Closing the window (a real WM_DELETE_WINDOW sent over X, as a window manager's close button
    does) while an upload runs opens the in-app close dialog listing it; "Stay" keeps everything;
    "Keep going in the tray" hides the window and the upload goes on; in a second app,
    "Stop transfers and quit" stops the upload and the app process exits; the next start lists it
    interrupted and Resume runs it again in its row.
"""

import ctypes
import ctypes.util
import os
import subprocess
import time

import e2e
from webdriver import Session, WebDriverError

RESPONSIVE_S = 3.0  # what "stays responsive" means: a click or a script answers within this
BULK_FILES = 50_000


# ---- helpers -------------------------------------------------------------------------------------


def start_moto(port, log_name, work):
    p = e2e.spawn(["moto_server", "-H", "127.0.0.1", "-p", str(port)], os.path.join(work, log_name))
    e2e.wait_port(port)
    return p


def stop(p):
    try:
        os.killpg(p.pid, 9)
    except ProcessLookupError:
        pass
    p.wait(timeout=10)


def s3_client(endpoint):
    import boto3

    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")


def timed(fn):
    t = time.time()
    fn()
    return time.time() - t


def bulk_tree(ctx):
    """50,000 tiny files in 100 folders (built once per suite run, ~10 s)."""
    root = os.path.join(ctx["work"], "bulk", "dataset-shards")
    if ctx.get("bulk_tree") != root:
        for d in range(100):
            sub = os.path.join(root, f"part-{d:03d}")
            os.makedirs(sub, exist_ok=True)
            for i in range(BULK_FILES // 100):
                with open(os.path.join(sub, f"sample-{i:05d}.json"), "w") as f:
                    f.write('{"x": %d}\n' % i)
        ctx["bulk_tree"] = root
    return root


def row_numbers(s):
    """(state, objects_done, objects_total) of the first Transfers row."""
    return s.js(
        "const r = document.querySelector('[data-testid=\"transfer-row\"]');"
        "return r ? [r.dataset.state, Number(r.dataset.objectsDone), Number(r.dataset.objectsTotal)] : null;"
    )


def x_close_window(title="trainctl"):
    """Sends WM_DELETE_WINDOW to every top-level X window named `title`: exactly what a window
    manager's close button does (GTK turns it into delete-event → Tauri's CloseRequested). There is
    no window manager under Xvfb, and xdotool 3.2016 has no graceful close, hence Xlib here."""
    ids = subprocess.run(["xdotool", "search", "--name", f"^{title}$"], capture_output=True, text=True).stdout.split()
    assert ids, f"no X window named {title!r}"
    x = ctypes.cdll.LoadLibrary(ctypes.util.find_library("X11"))
    x.XOpenDisplay.restype = ctypes.c_void_p
    x.XOpenDisplay.argtypes = [ctypes.c_char_p]
    x.XInternAtom.restype = ctypes.c_ulong
    x.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    x.XSendEvent.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_long, ctypes.c_void_p]
    x.XFlush.argtypes = [ctypes.c_void_p]
    x.XCloseDisplay.argtypes = [ctypes.c_void_p]

    class ClientMessage(ctypes.Structure):
        _fields_ = [("type", ctypes.c_int), ("serial", ctypes.c_ulong), ("send_event", ctypes.c_int), ("display", ctypes.c_void_p),
                    ("window", ctypes.c_ulong), ("message_type", ctypes.c_ulong), ("format", ctypes.c_int), ("l", ctypes.c_long * 5)]

    class XEvent(ctypes.Union):
        _fields_ = [("xclient", ClientMessage), ("pad", ctypes.c_long * 24)]

    dpy = x.XOpenDisplay(None)
    assert dpy, "cannot open the X display"
    protocols = x.XInternAtom(dpy, b"WM_PROTOCOLS", 0)
    delete = x.XInternAtom(dpy, b"WM_DELETE_WINDOW", 0)
    for wid in ids:
        ev = XEvent()
        ev.xclient.type = 33  # ClientMessage
        ev.xclient.window = int(wid)
        ev.xclient.message_type = protocols
        ev.xclient.format = 32
        ev.xclient.l[0] = delete
        ev.xclient.l[1] = 0  # CurrentTime
        x.XSendEvent(dpy, int(wid), 0, 0, ctypes.byref(ev))
    x.XFlush(dpy)
    x.XCloseDisplay(dpy)


def visible_windows(title="trainctl"):
    return subprocess.run(["xdotool", "search", "--onlyvisible", "--name", f"^{title}$"], capture_output=True, text=True).stdout.split()


def app_pids():
    # By process name (the kernel's 15-character comm), so build commands naming the crate never match.
    out = subprocess.run(["pgrep", "-x", "trainctl-deskto"], capture_output=True, text=True).stdout.split()
    return {int(p) for p in out}


# ---- tests ---------------------------------------------------------------------------------------


def test_endpoint_down_banner(driver_url, ctx):
    work = ctx["work"]
    port = e2e.free_port()
    endpoint = f"http://127.0.0.1:{port}"
    bucket = "flaky-lab"

    def seed():
        c = s3_client(endpoint)
        c.create_bucket(Bucket=bucket)
        for k in ("runs/a/config.json", "runs/a/train.log", "notes.txt"):
            c.put_object(Bucket=bucket, Key=k, Body=b"x" * 100)

    moto = start_moto(port, "moto-flaky.log", work)
    seed()
    s = Session(driver_url, e2e.APP)
    try:
        e2e.connect_profile(s, endpoint, "flaky")
        s.click(f'[data-testid="bucket-row"][data-bucket="{bucket}"]', timeout=20)
        row = '[data-testid="object-row"][data-key="notes.txt"]'
        s.wait(row, timeout=20)
        # The endpoint goes down mid-browse.
        stop(moto)
        s.click('[data-testid="browser-refresh"]')
        s.wait('[data-testid="connection-banner"]', timeout=60, what="the connection banner after the endpoint died")
        msg = s.text('[data-testid="connection-banner-message"]')
        assert s.find_all(row), "the rows on screen were cleared while the endpoint is down"
        e2e.shot(s, "connection-lost")
        ctx["asserts"].append(f"endpoint killed mid-browse → Refresh raises the banner ({msg[:60]!r}); rows on screen stay")
        # It comes back: Retry clears the banner and the listing reloads.
        moto = start_moto(port, "moto-flaky-2.log", work)
        seed()
        s.click('[data-testid="connection-retry"]')
        s.wait_gone('[data-testid="connection-banner"]', timeout=60)
        s.click('[data-testid="browser-refresh"]')
        s.wait(row, timeout=20)
        ctx["asserts"].append("endpoint back on the same port → Retry clears the banner, the listing reloads")
    finally:
        s.quit()
        e2e.wait_app_exit()
        stop(moto)


def own_moto(ctx, name):
    """A moto of the test's own with an empty bucket `bulk`: tens of thousands of uploaded keys
    must not slow the shared moto's listings for the tests after this one (moto lists in O(n))."""
    port = e2e.free_port()
    p = start_moto(port, f"moto-{name}.log", ctx["work"])
    endpoint = f"http://127.0.0.1:{port}"
    s3_client(endpoint).create_bucket(Bucket="bulk")
    return p, endpoint


def test_drop_50k_files(driver_url, ctx):
    t0 = time.time()
    tree = bulk_tree(ctx)
    built = time.time() - t0
    moto, endpoint = own_moto(ctx, "bulk")
    s = Session(driver_url, e2e.APP)
    try:
        e2e.connect_profile(s, endpoint, "bulk")
        s.js("location.hash = arguments[0];", "#/browser/bulk/incoming/")
        s.wait('[data-testid="view-browser"]')
        s.js("window.__trainctlDrop(arguments[0]);", [tree])
        e2e.nav(s, "transfers", "view-transfers")
        seen = []
        try:
            s.wait_until(lambda: (r := row_numbers(s)) and seen.append(r) is None and r[2] == BULK_FILES, "the plan", timeout=180)
        except WebDriverError:
            raise AssertionError(f"the upload was not planned with {BULK_FILES} objects (last row: {seen[-1:]})") from None
        planned = seen[-1]
        # Responsive while it runs: navigation and a script round trip answer quickly.
        worst = 0.0
        for view, ready in (("dashboard", "view-dashboard"), ("browser", "view-browser"), ("notifications", "view-notifications"), ("transfers", "view-transfers")):
            worst = max(worst, timed(lambda: e2e.nav(s, view, ready)), timed(lambda: s.js("return 1;")))
        assert worst < RESPONSIVE_S, f"the window answered in {worst:.1f}s during a 50k-file upload (limit {RESPONSIVE_S}s)"
        first, t1 = row_numbers(s), time.time()
        seen = [first]
        try:
            s.wait_until(lambda: (r := row_numbers(s)) and seen.append(r) is None and (r[1] > first[1] or r[0] == "done"), "progress", timeout=60)
        except WebDriverError:
            raise AssertionError(f"no aggregated progress within 60 s: {first} → {seen[-1]}") from None
        second = seen[-1]
        rate = (second[1] - first[1]) / max(time.time() - t1, 0.1)
        e2e.shot(s, "transfers-50k")
        ctx["asserts"].append(
            f"50,000-file drop (tree built in {built:.0f}s): planned with exactly {planned[2]} objects; "
            f"progress aggregates ({first[1]} → {second[1]} objects, ~{rate:.0f}/s); slowest click/script {worst:.2f}s < {RESPONSIVE_S}s"
        )
        if second[0] != "done":
            s.click('[data-testid="transfer-row"] [data-testid="transfer-cancel"]')
            s.wait('[data-testid="transfer-row"][data-state="cancelled"], [data-testid="transfer-row"][data-state="failed"]', timeout=60)
            state = s.attr('[data-testid="transfer-row"]', "data-state")
            assert state == "cancelled", state
            ctx["asserts"].append(f"cancelling it ends the row `cancelled` ({row_numbers(s)[1]} of {BULK_FILES} uploaded)")
    finally:
        s.quit()
        e2e.wait_app_exit()
        stop(moto)


def start_long_upload(s, ctx, prefix):
    """Drops the 50k tree (minutes of work on moto) and waits until it runs."""
    s.js("location.hash = arguments[0];", f"#/browser/bulk/{prefix}")
    s.wait('[data-testid="view-browser"]')
    s.js("window.__trainctlDrop(arguments[0]);", [bulk_tree(ctx)])
    e2e.nav(s, "transfers", "view-transfers")
    s.wait('[data-testid="transfer-row"][data-state="running"]', timeout=120, what="the upload to run")


def test_close_with_transfers_asks(driver_url, ctx):
    moto, endpoint = own_moto(ctx, "close")
    s = Session(driver_url, e2e.APP)
    try:
        e2e.connect_profile(s, endpoint, "bulk")
        start_long_upload(s, ctx, "close-a/")
        x_close_window()
        s.wait('[data-testid="close-dialog"][open]', timeout=20, what="the close dialog")
        listed = s.text('[data-testid="close-dialog-jobs"]')
        assert "dataset-shards" in listed, listed
        e2e.shot(s, "close-dialog")
        s.click('[data-testid="close-stay"]')
        s.wait_gone('[data-testid="close-dialog"]')
        assert visible_windows(), "Stay hid the window"
        ctx["asserts"].append(f"window close with an upload running → in-app dialog lists it ({listed[:40]!r}); Stay keeps the window")
        x_close_window()
        s.click_hiding('[data-testid="close-tray"]', timeout=20)
        s.wait_until(lambda: not visible_windows(), "the window to hide", timeout=20)
        before = row_numbers(s)[1]
        time.sleep(2)
        after = row_numbers(s)
        assert after[0] == "running" and after[1] > before, (before, after)
        ctx["asserts"].append(f"Keep going in the tray → window hidden, the upload goes on ({before} → {after[1]} objects)")
    finally:
        s.quit()
        e2e.wait_app_exit()
    os.remove(os.path.join(ctx["work"], "config", "trainctl", "config.toml"))  # a first run again
    others = app_pids()  # other suites' apps may run on this machine: ours is the new one
    s = Session(driver_url, e2e.APP)
    try:
        mine = app_pids() - others
        assert mine, "no app process of this session found"
        e2e.connect_profile(s, endpoint, "bulk")
        start_long_upload(s, ctx, "close-b/")
        x_close_window()
        s.click_hiding('[data-testid="close-quit"]', timeout=20)
        t = time.time()
        s.wait_until(lambda: not (app_pids() & mine), "the app to exit after Stop transfers and quit", timeout=30)
        ctx["asserts"].append(f"Stop transfers and quit → the transfers stop and the app process exits ({time.time() - t:.1f}s)")
    finally:
        s.quit()
        e2e.wait_app_exit()
    queued = os.path.join(ctx["work"], "config", "trainctl", "transfers.json")
    try:
        assert "close-b" in open(queued).read(), "the stopped upload is kept in transfers.json"
        # The next start lists the stopped upload as interrupted; Resume continues it in the same row.
        # The test keychain lives in the app process: the profile is made again (as in part two),
        # and connecting to it offers what was interrupted under it.
        os.remove(os.path.join(ctx["work"], "config", "trainctl", "config.toml"))
        s = Session(driver_url, e2e.APP)
        try:
            e2e.connect_profile(s, endpoint, "bulk")
            e2e.nav(s, "transfers", "view-transfers")
            row = '[data-testid="transfer-row"][data-state="interrupted"]'
            s.wait(row, timeout=30, what="the interrupted upload")
            e2e.shot(s, "transfers-interrupted")
            done_before = len(s3_client(endpoint).list_objects_v2(Bucket="bulk", Prefix="close-b/").get("Contents", []))
            s.wait_until(lambda: s.js("return [...document.querySelectorAll(arguments[0])].find(r => r.textContent.includes('bulk/close-b/'))?.dataset.job", row) or None,
                         "close-b/ among the interrupted rows", timeout=20)
            job = s.js("return [...document.querySelectorAll(arguments[0])].find(r => r.textContent.includes('bulk/close-b/')).dataset.job", row)
            s.click(f'[data-testid="transfer-row"][data-job="{job}"] [data-testid="transfer-resume"]')
            s.wait(f'[data-testid="transfer-row"][data-job="{job}"][data-state="running"]', timeout=120, what="the resumed upload to run in its row")
            s.wait_until(lambda: int(s.attr(f'[data-testid="transfer-row"][data-job="{job}"]', "data-objects-done") or 0) > 0 or None, "the resumed upload to move objects", timeout=60)
            total = s.attr(f'[data-testid="transfer-row"][data-job="{job}"]', "data-objects-total")
            ctx["asserts"].append(f"after a restart the stopped upload is listed interrupted; Resume runs it in its row ({done_before} objects already there, {total} left to send)")
            s.click(f'[data-testid="transfer-row"][data-job="{job}"] [data-testid="transfer-cancel"]')
            s.wait(f'[data-testid="transfer-row"][data-job="{job}"][data-state="cancelled"]', timeout=60, what="the resumed upload cancelled")
            for other in s.js("return [...document.querySelectorAll('[data-testid=\"transfer-row\"][data-state=\"interrupted\"]')].map(r => r.dataset.job)"):
                s.click(f'[data-testid="transfer-row"][data-job="{other}"] [data-testid="transfer-dismiss"]')
        finally:
            s.quit()
            e2e.wait_app_exit()
    finally:
        stop(moto)
    assert "close-b" not in open(queued).read(), "a job the user cancelled is not offered again"
