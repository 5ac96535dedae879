#!/usr/bin/env python3
"""Desktop start-up and idle-memory benchmark (not a test). Run through desktop_startup.sh, which
provides Xvfb and a private session bus. Issue #3 targets: cold start to first paint <= 1.5 s,
idle memory <= 200 MB with a 100k-object listing open.

1. First paint, RUNS times: the app binary is spawned directly (no WebDriver) with a fresh HOME
   and one trainctl profile (so it starts connected, on the Dashboard, like a returning user);
   first paint = the first X grab of its window that has more than 8 colours. Memory of the
   process tree after 10 s idle on the Dashboard.
2. 100k listing: the app is launched through WebKitWebDriver (WebDriver is the only way to drive
   it here), the Browser opens s3://bench/many/ (100,000 keys served by list_fixture.py), the time
   until the summary reads "100,000 objects" is recorded, then memory after 10 s idle. The app
   gets TRAINCTL_WEBKIT_TUNING explicitly (default `accel`) so that it applies its WebKit settings
   under WebDriver too; the screenshot is an X grab (WebDriver's can hang without compositing).

Options: `--trace` prints each first-paint run's start-up trace (the app runs with
TRAINCTL_STARTUP_TRACE=1: ms since exec of each shell and page step); `--no-listing` skips part 2.
TRAINCTL_WEBKIT_TUNING (accel,cache,pagecache | all | none) passes through, to A/B WebKit settings.

Memory is given two ways for the app and all its descendants (WebKitWebProcess,
WebKitNetworkProcess): the sum of VmRSS (counts shared libraries once per process, so it
overstates) and the sum of PSS (shared pages split between the processes that map them: what the
tree really costs). Prints a table and one JSON line.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "desktop"))
from webdriver import Session  # noqa: E402

APP = os.environ.get("TRAINCTL_DESKTOP_BIN", "")
ARGS = [a for a in sys.argv[1:] if not a.startswith("--")]
RUNS = int(ARGS[0]) if ARGS else 3
# --trace: print the app's start-up trace (TRAINCTL_STARTUP_TRACE, src-tauri/src/startup.rs) of each run.
TRACE = "--trace" in sys.argv[1:]
# --no-listing: first paint and idle memory only (skips the 100k listing run).
LISTING = "--no-listing" not in sys.argv[1:]
N = 100_000
IDLE_S = 10


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


def descendants(pid):
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        kids = subprocess.run(["pgrep", "-P", str(p)], capture_output=True, text=True).stdout.split()
        todo += [int(k) for k in kids]
    return out


def memory(pid):
    """{name: (rss_kb, pss_kb)} per process of the tree, and the totals."""
    per = {}
    for p in descendants(pid):
        try:
            name = open(f"/proc/{p}/comm").read().strip()
            rss = next(int(l.split()[1]) for l in open(f"/proc/{p}/status") if l.startswith("VmRSS:"))
            pss = next(int(l.split()[1]) for l in open(f"/proc/{p}/smaps_rollup") if l.startswith("Pss:"))
        except (OSError, StopIteration):
            continue
        r, s = per.get(name, (0, 0))
        per[name] = (r + rss, s + pss)
    return per, sum(v[0] for v in per.values()), sum(v[1] for v in per.values())


def env_for(home, endpoint):
    # TRAINCTL_WEBKIT_TUNING passes through: the A/B knob of src-tauri/src/webkit.rs.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TRAINCTL_")) or k == "TRAINCTL_WEBKIT_TUNING"}
    cfg = os.path.join(home, "config", "trainctl", "config.toml")
    os.makedirs(os.path.dirname(cfg), exist_ok=True)
    with open(cfg, "w") as f:
        f.write(f'[profiles.bench]\nprovider = "other"\nendpoint_url = "{endpoint}"\nregion = "us-east-1"\npath_style = true\n')
    env.update(
        HOME=home,
        XDG_CONFIG_HOME=os.path.join(home, "config"),
        XDG_DATA_HOME=os.path.join(home, "data"),
        XDG_CACHE_HOME=os.path.join(home, "cache"),
        TRAINCTL_CONFIG=cfg,
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_CONFIG_FILE=os.path.join(home, "none"),
        AWS_SHARED_CREDENTIALS_FILE=os.path.join(home, "none"),
        AWS_EC2_METADATA_DISABLED="true",
        TRAINCTL_KEYRING_MOCK="1",
    )
    return env


def window_painted():
    ids = subprocess.run(["xdotool", "search", "--onlyvisible", "--name", "^trainctl$"], capture_output=True, text=True).stdout.split()
    for wid in ids:
        out = subprocess.run(["import", "-window", wid, "-format", "%k", "info:"], capture_output=True, text=True).stdout.strip()
        if out.isdigit() and int(out) > 8:
            return True
    return False


def x_grab(path):
    ids = subprocess.run(["xdotool", "search", "--onlyvisible", "--name", "^trainctl$"], capture_output=True, text=True).stdout.split()
    if ids:
        subprocess.run(["import", "-window", ids[-1], path], capture_output=True)


def first_paint_run(endpoint, shot=None):
    home = tempfile.mkdtemp(prefix="trainctl-bench-")
    log = open(os.path.join(home, "stderr.log"), "w+")
    t0 = time.time()
    p = subprocess.Popen([APP], env=dict(env_for(home, endpoint), TRAINCTL_STARTUP_TRACE="1"), stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)
    painted = None
    while time.time() - t0 < 60:
        if window_painted():
            painted = time.time() - t0
            break
        time.sleep(0.03)
    time.sleep(IDLE_S)
    per, rss, pss = memory(p.pid)
    if shot:
        x_grab(shot)
    os.killpg(p.pid, signal.SIGTERM)
    p.wait(timeout=10)
    log.seek(0)
    trace = [l.rstrip() for l in log if l.startswith("startup:")]
    log.close()
    shutil.rmtree(home, ignore_errors=True)
    return painted, per, rss, pss, trace


def listing_run(endpoint):
    home = tempfile.mkdtemp(prefix="trainctl-bench-")
    port = free_port()
    # Straight to WebKitWebDriver, as the e2e suite does (tests/desktop/README.md, the flake).
    # TRAINCTL_WEBKIT_TUNING set explicitly: the app applies its WebKit settings under WebDriver too
    # (by default it keeps WebKit's hardware acceleration there: src-tauri/src/webkit.rs), so the
    # memory measured is the real app's.
    tuning = os.environ.get("TRAINCTL_WEBKIT_TUNING") or "accel"
    d = subprocess.Popen(["/usr/bin/WebKitWebDriver", f"--port={port}", "--host=127.0.0.1"], env=dict(env_for(home, endpoint), TAURI_WEBVIEW_AUTOMATION="true", TRAINCTL_WEBKIT_TUNING=tuning),
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_port(port)
        Session.direct = True
        s = Session(f"http://127.0.0.1:{port}", APP)
        try:
            s.wait('[data-testid="view-dashboard"], [data-testid="view-browser"]', timeout=60)
            t0 = time.time()
            s.js("location.hash = arguments[0];", "#/browser/bench/many/")
            summary = '[data-testid="listing-summary"]'
            s.wait_until(lambda: (t := s.js("const e = document.querySelector(arguments[0]); return e ? e.textContent : '';", summary))
                         and "100,000" in t and "listing" not in t, "the 100k listing", timeout=600)
            loaded = time.time() - t0
            # Scroll to the end and back: the virtualized list must answer (time of both scripts).
            t1 = time.time()
            s.js("const l = document.querySelector('[data-testid=\"object-row\"]').parentElement.closest('[class]'); "
                 "let el = l; while (el && el.scrollHeight <= el.clientHeight) el = el.parentElement; if (el) { el.scrollTop = el.scrollHeight; }")
            s.js("return document.querySelectorAll('[data-testid=\"object-row\"]').length;")
            rows = s.js("return document.querySelectorAll('[data-testid=\"object-row\"]').length;")
            scroll = time.time() - t1
            time.sleep(IDLE_S)
            # An X grab of the window (WebKitGTK's WebDriver screenshot can hang without compositing).
            x_grab(os.path.join(ROOT, "docs", "screenshots", "app-browser-100k.png"))
            app = [int(p) for p in subprocess.run(["pgrep", "-f", "-n", APP], capture_output=True, text=True).stdout.split()]
            per, rss, pss = memory(app[0])
            return loaded, scroll, rows, per, rss, pss
        finally:
            s.quit()
    finally:
        os.killpg(d.pid, signal.SIGTERM)
        d.wait(timeout=10)
        shutil.rmtree(home, ignore_errors=True)


def mb(kb):
    return kb / 1024


def main():
    port = free_port()
    fixture = subprocess.Popen([sys.executable, os.path.join(ROOT, "benches", "list_fixture.py"), str(port), str(N)], start_new_session=True)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        wait_port(port)
        paints, idle = [], []
        for run in range(1, RUNS + 1):
            painted, per, rss, pss, trace = first_paint_run(endpoint, shot=os.path.join(tempfile.gettempdir(), "desktop-bench-dashboard.png") if run == 1 else None)
            paints.append(painted)
            idle.append((rss, pss))
            detail = ", ".join(f"{k} {mb(v[1]):.0f}" for k, v in sorted(per.items()))
            print(f"run {run} (load {os.getloadavg()[0]:.2f}): first paint {painted if painted is None else round(painted, 2)} s; idle on the Dashboard: RSS {mb(rss):.0f} MB, PSS {mb(pss):.0f} MB ({detail} MB PSS)", flush=True)
            if TRACE:
                print("\n".join(f"    {l}" for l in trace), flush=True)
        loaded, scroll, rows, per, rss, pss = listing_run(endpoint) if LISTING else (0, 0, 0, {}, 0, 0)
        detail = ", ".join(f"{k} {mb(v[1]):.0f}" for k, v in sorted(per.items()))
        if LISTING:
            print(f"100k listing: loaded in {loaded:.1f} s, scroll to end {scroll:.2f} s ({rows} rows in the DOM); idle: RSS {mb(rss):.0f} MB, PSS {mb(pss):.0f} MB ({detail} MB PSS)", flush=True)
        ok = [p for p in paints if p is not None]
        result = {
            "app": APP, "runs": RUNS, "load_at_end": round(os.getloadavg()[0], 2),
            "first_paint_s": {"min": min(ok), "median": sorted(ok)[len(ok) // 2], "max": max(ok)} if ok else None,
            "idle_dashboard_mb": {"rss": round(mb(sorted(idle)[len(idle) // 2][0])), "pss": round(mb(sorted(idle, key=lambda x: x[1])[len(idle) // 2][1]))},
            "listing_100k": {"load_s": round(loaded, 1), "scroll_s": round(scroll, 2), "dom_rows": rows, "rss_mb": round(mb(rss)), "pss_mb": round(mb(pss)),
                             "per_process_pss_mb": {k: round(mb(v[1])) for k, v in per.items()}},
            "targets": {"first_paint_s": 1.5, "idle_mb": 200},
        }
        print(json.dumps(result), flush=True)
    finally:
        os.killpg(fixture.pid, signal.SIGTERM)


if __name__ == "__main__":
    main()
