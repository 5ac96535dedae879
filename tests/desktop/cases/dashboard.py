"""Dashboard storage review (issue #5) in the real webview, against the embedded demo.

test_dashboard_review_matches_cli
    Try the demo → Dashboard → review s3://demo-training/. The charts are really drawn (the
    ECharts treemap and bars and the uPlot growth chart each have a canvas with non-blank pixels,
    and the ECharts instances carry the report's data), and the totals the Dashboard shows
    (objects, bytes, $/month — read from data-value attributes with raw numbers) and its largest
    object equal `trainctl s3 review s3://demo-training/ --detailed --json` run against the same
    demo endpoint. The demo's simulated trainer writes a checkpoint every ~20 s, so the CLI runs
    before and after the app's review and the comparison is made only when both CLI runs agree
    (otherwise the whole round is repeated). A second review then gives the growth chart (uPlot)
    its second snapshot. The screenshot is docs/screenshots/app-dashboard.png.
    TRAINCTL_E2E_DASHBOARD_PREFIX=runs/ reviews a prefix instead of the whole bucket.
"""

import json
import os
import re
import subprocess
import time

import e2e
from webdriver import Session

ROOT = e2e.ROOT
BUCKET = "demo-training"
# The whole bucket by default; TRAINCTL_E2E_DASHBOARD_PREFIX=runs/ reviews a prefix instead.
PREFIX = os.environ.get("TRAINCTL_E2E_DASHBOARD_PREFIX", "")
LOCATION = f"s3://{BUCKET}/{PREFIX}"
# The app prices the demo (a local server without prices of its own) as AWS us-east-1; the CLI is
# given the same built-in table file (`--prices`).
PRICES = os.path.join(ROOT, "crates", "trainctl-core", "data", "prices", "aws-us-east-1.toml")


def cli_bin():
    target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target")
    for cand in (os.environ.get("TRAINCTL_CLI_BIN"), os.path.join(target, "debug", "trainctl"), os.path.join(ROOT, "target", "debug", "trainctl")):
        if cand and os.path.exists(cand):
            return cand
    raise AssertionError("the CLI binary is missing: cargo build -p trainctl-cli")


def cli_review(endpoint, work):
    """`trainctl s3 review --detailed --json` of the demo bucket: the parsed Report."""
    cfg = os.path.join(work, "cli-config")
    os.makedirs(cfg, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TRAINCTL_"))}
    env.update(
        AWS_ACCESS_KEY_ID="trainctl-demo",
        AWS_SECRET_ACCESS_KEY="trainctl-demo-secret",
        AWS_REGION="us-east-1",
        AWS_CONFIG_FILE=os.path.join(work, "no-aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=os.path.join(work, "no-aws-credentials"),
        AWS_EC2_METADATA_DISABLED="true",
        XDG_CONFIG_HOME=cfg,
        XDG_DATA_HOME=cfg,
        XDG_STATE_HOME=cfg,
        TRAINCTL_CONFIG=os.path.join(cfg, "config.toml"),
    )
    args = [cli_bin(), "--endpoint-url", endpoint, "s3", "review", LOCATION, "--detailed", "--json", "--prices", PRICES]
    out = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, f"{' '.join(args)} → exit {out.returncode}: {out.stderr[-2000:]}"
    # The report is the JSON object with `totals` (progress lines, if any, come before it).
    for line in reversed(out.stdout.strip().splitlines()):
        line = line.strip()
        if line.startswith("{") and '"totals"' in line:
            return find_report(json.loads(line))
    return find_report(json.loads(out.stdout))


def find_report(doc):
    """The Report inside a JSON document (the document itself, or a wrapper holding it)."""
    if isinstance(doc, dict) and "totals" in doc and "by_prefix" in doc:
        return doc
    for v in doc.values() if isinstance(doc, dict) else []:
        if isinstance(v, dict) and (found := find_report(v)):
            return found
    return None


def shown_totals(s):
    def num(testid):
        v = s.attr(f'[data-testid="{testid}"]', "data-value")
        return None if v in (None, "") else float(v)

    return {
        "objects": int(num("review-total-objects")),
        "bytes": int(num("review-total-bytes")),
        "monthly_usd": num("review-total-usd"),
        "location": s.attr('[data-testid="review-totals"]', "data-location"),
    }


CANVAS_INK = """
const el = document.querySelector(arguments[0]);
const c = el && el.querySelector('canvas');
if (!c || !c.width || !c.height) return null;
const g = c.getContext('2d');
const d = g.getImageData(0, 0, c.width, c.height).data;
let ink = 0;
const colors = new Set();
for (let i = 0; i < d.length; i += 4 * 97) {
  if (d[i + 3] > 0) { ink++; colors.add((d[i] >> 4) * 256 + (d[i + 1] >> 4) * 16 + (d[i + 2] >> 4)); }
}
return {w: c.width, h: c.height, ink: ink, colors: colors.size};
"""

ECHARTS_DATA = """
const el = document.querySelector(arguments[0]);
const chart = el && el.__chart;
if (!chart) return null;
const o = chart.getOption();
const s = o.series || [];
const count = (nodes) => (nodes || []).reduce((a, n) => a + 1 + count(n.children), 0);
return {series: s.length, type: s[0] && s[0].type, nodes: s[0] && s[0].type === 'treemap' ? count(s[0].data) : null,
        top: s[0] && s[0].type === 'treemap' ? s[0].data.map((n) => [n.path, n.value]) : null};
"""


def assert_drawn(s, testid, what):
    ink = s.wait_until(lambda: s.js(CANVAS_INK, f'[data-testid="{testid}"]'), f"a canvas in {testid}", timeout=20)
    assert ink["ink"] > 20 and ink["colors"] >= 3, f"{what} looks blank: {ink}"
    return ink


def test_dashboard_review_matches_cli(driver_url, ctx):
    s = Session(driver_url, e2e.APP)
    try:
        s.wait('[data-testid="view-first-run"]', timeout=40, what="the first-run screen")
        s.click('[data-testid="try-demo"]')
        s.wait('[data-testid="view-dashboard"]', timeout=40)
        s.wait(f'[data-testid="dashboard-bucket"][data-bucket="{BUCKET}"]', timeout=30, what="the demo bucket on the Dashboard")
        m = re.search(r"http://127\.0\.0\.1:\d+", s.text('[data-testid="nav-connection"]'))
        assert m, "no demo endpoint in the nav"
        endpoint = m.group(0)
        # The demo is reviewed on arrival; stop that one (if still going) before starting ours.
        s.wait('[data-testid="dashboard-review"]', timeout=20)
        # In one script: the review may end (and its Cancel button go) between a find and a click.
        s.js("document.querySelector('[data-testid=\"review-cancel\"]')?.click();")
        s.wait('[data-testid="dashboard-review"]:not([data-state="running"])', timeout=60)
        s.js(
            "const el = document.querySelector('[data-testid=\"review-bucket\"]'); el.value = arguments[0];"
            "el.dispatchEvent(new Event('change', {bubbles: true}));",
            BUCKET,
        )
        s.type('[data-testid="review-prefix"]', PREFIX)
        for attempt in range(4):
            before = cli_review(endpoint, ctx["work"])
            s.click('[data-testid="review-run"]')
            s.wait('[data-testid="dashboard-review"][data-state="running"], [data-testid="dashboard-review"][data-state="done"]', timeout=10)
            s.wait('[data-testid="dashboard-review"][data-state="done"]', timeout=90, what="the review to finish")
            app = shown_totals(s)
            after = cli_review(endpoint, ctx["work"])
            key = lambda r: (r["totals"]["objects"], r["totals"]["bytes"])  # noqa: E731
            if key(before) == key(after):
                break
            e2e.log(f"the demo trainer wrote during round {attempt + 1} ({key(before)} → {key(after)}); again")
        else:
            raise AssertionError("the demo bucket kept changing during every round")
        cli = after["totals"]
        assert app["location"] == LOCATION, app
        assert app["objects"] == cli["objects"], (app, cli)
        assert app["bytes"] == cli["bytes"], (app, cli)
        assert cli["monthly_usd"] is not None and app["monthly_usd"] is not None, (app, cli, after.get("pricing"))
        assert abs(app["monthly_usd"] - cli["monthly_usd"]) < 1e-9, (app, cli)
        ctx["asserts"].append(
            f"Dashboard review of {LOCATION} = CLI --json: {app['objects']} objects, {app['bytes']} bytes, ${app['monthly_usd']:.6f}/month"
        )
        # The largest object and hidden bytes agree too.
        row = '[data-testid="largest-row"]'
        s.wait(row)
        first_key, first_bytes = s.attr(row, "data-key"), int(s.attr(row, "data-bytes"))
        top = after["largest_objects"][0]
        assert (first_key, first_bytes) == (top["key"], top["bytes"]), ((first_key, first_bytes), top)
        hidden = s.attr('[data-testid="review-hidden-bytes"]', "data-value")
        if after.get("hidden") is not None:
            h = after["hidden"]
            assert int(float(hidden)) == h["multipart_bytes"] + h["noncurrent_bytes"], (hidden, h)
        ctx["asserts"].append(f"largest object {first_key} ({first_bytes} B) and hidden bytes ({hidden}) = CLI")
        # The charts are drawn: canvases with ink, ECharts holding the report's tree and stacks.
        s.js("document.querySelector('[data-testid=\"dashboard-review\"]').scrollIntoView();")
        tm = assert_drawn(s, "chart-treemap", "the treemap")
        bars = assert_drawn(s, "chart-classes", "the storage-class bars")
        growth = assert_drawn(s, "chart-growth", "the growth chart")
        opt = s.js(ECHARTS_DATA, '[data-testid="chart-treemap"]')
        assert opt and opt["type"] == "treemap" and opt["nodes"] >= len(after["by_prefix"]), opt
        top_paths = sorted(p for p, _ in opt["top"])
        want = sorted(g["name"] for g in after["by_prefix"] if g["name"] != "(top level)" and g["bytes"] > 0)
        assert top_paths[: len(want)] == want or set(want) <= set(top_paths), (top_paths, want)
        assert sum(v for _, v in opt["top"]) == cli["bytes"], ("treemap areas must add up to the total", opt["top"], cli["bytes"])
        bar_opt = s.js(ECHARTS_DATA, '[data-testid="chart-classes"]')
        assert bar_opt and bar_opt["type"] == "bar" and bar_opt["series"] >= 1, bar_opt
        # A second review a moment later is a second point of the growth chart (snapshots are
        # kept per second).
        time.sleep(1.2)
        s.click('[data-testid="review-run"]')
        s.wait_until(lambda: int(s.attr('[data-testid="chart-growth"]', "data-points") or 0) >= 2, "a second point on the growth chart", timeout=90)
        points = int(s.attr('[data-testid="chart-growth"]', "data-points"))
        growth = assert_drawn(s, "chart-growth", "the growth chart")
        ctx["asserts"].append(
            f"charts drawn: treemap {tm['w']}x{tm['h']} ({opt['nodes']} nodes, areas sum to the total), "
            f"class bars ({bar_opt['series']} classes), growth ({points} snapshots)"
        )
        savings = s.find_all('[data-testid="savings-action"]')
        assert savings, "the demo's runs have old checkpoints: a cleanup saving is expected"
        ctx["asserts"].append(f"cost card offers {len(savings)} savings actions")
        time.sleep(0.5)
        e2e.shot(s, "dashboard")
        # A budget below the estimate: the cost card warns, and the review pops a notification
        # (on the session bus and in the in-app list) — `cost estimate --budget`'s exit 48 in the app.
        budget = cli["monthly_usd"] / 2
        s.js(
            "const el = document.querySelector('[data-testid=\"budget-input\"]'); el.value = arguments[0];"
            "el.dispatchEvent(new Event('input', {bubbles: true})); el.dispatchEvent(new Event('change', {bubbles: true}));",
            f"{budget:.6f}",
        )
        s.click('[data-testid="review-run"]')
        s.wait('[data-testid="dashboard-review"][data-state="done"]', timeout=90, what="the review with a budget")
        s.wait('[data-testid="cost-card"][data-over-budget="true"] [data-testid="budget-warning"]', timeout=20, what="the over-budget warning")
        # The budget covers compute too: the demo's llama-7b-sft ran 2 × p4d.24xlarge two days ago.
        # The warning can show before this review ends (the budget is compared with the last
        # report at once); the compute line comes with the new review's outcome: wait for it.
        s.wait('[data-testid="budget-compute"]', timeout=90, what="the compute counted against the budget")
        compute = float(s.attr('[data-testid="budget-compute"]', "data-usd"))
        assert compute > 0, "the demo run's compute counts against the budget"
        mon = ctx["monitor_log"]
        title = "Storage and compute over budget"
        s.wait_until(lambda: title in open(mon, errors="replace").read() or None, "a Notify call for the budget", timeout=20)
        e2e.nav(s, "notifications", "view-notifications")
        s.wait_until(lambda: title in s.text('[data-testid="view-notifications"]') or None, "the budget popup in the in-app list", timeout=20)
        ctx["asserts"].append(f"budget ${budget:.6f}/month < ${cli['monthly_usd']:.6f} storage + ${compute:.2f} compute (30 days): cost card warns, '{title}' popup + in-app notification")
    finally:
        s.quit()
        e2e.wait_app_exit()


def review_bucket(s, bucket):
    """The Dashboard → stop the review it may have started on its own → review `bucket`."""
    e2e.nav(s, "dashboard", "view-dashboard")
    s.wait(f'[data-testid="review-bucket"] option[value="{bucket}"]', timeout=30, what="the bucket in the review form")
    s.js("document.querySelector('[data-testid=\"review-cancel\"]')?.click();")
    s.wait('[data-testid="dashboard-review"]:not([data-state="running"])', timeout=60)
    s.js("const el = document.querySelector('[data-testid=\"review-bucket\"]'); el.value = arguments[0]; el.dispatchEvent(new Event('change', {bubbles: true}));", bucket)
    s.click('[data-testid="review-run"]')


def test_dashboard_shows_duplicate_objects_like_the_cli(driver_url, ctx):
    """On moto: three copies of one 2 MiB checkpoint file (`best/`, `final/`, `checkpoint-100/`)
    and one other file; the Dashboard's review lists one group of 3 with 4 MiB reclaimable, the
    same figure `trainctl s3 dedup --json` prints."""
    from cases.datasets import cli  # noqa: E402  (the CLI against moto, own config)

    s3, bucket, mib = ctx["s3"], "dups-e2e", 1 << 20
    s3.create_bucket(Bucket=bucket)
    weights = bytes(range(256)) * (2 * mib // 256)
    for k in ("run/checkpoint-100/model.safetensors", "run/best/model.safetensors", "run/final/model.safetensors"):
        s3.put_object(Bucket=bucket, Key=k, Body=weights)
    s3.put_object(Bucket=bucket, Key="run/checkpoint-200/model.safetensors", Body=b"x" * (2 * mib))
    want = cli(ctx["moto"], ctx["work"], "s3", "dedup", f"s3://{bucket}/")
    assert (want["groups_total"], want["reclaimable_bytes"]) == (1, 4 * mib), want
    s = Session(driver_url, e2e.APP)
    try:
        e2e.connect_profile(s, ctx["moto"], name="dups")
        review_bucket(s, bucket)
        s.wait('[data-testid="dashboard-review"][data-state="done"] [data-testid="duplicates"]', timeout=90, what="the duplicates of the review")
        assert int(s.attr('[data-testid="duplicates"]', "data-reclaimable")) == want["reclaimable_bytes"]
        assert s.attr('[data-testid="duplicates"]', "data-groups") == "1"
        group = s.text('[data-testid="duplicate-group"]')
        assert "run/best/model.safetensors +2" in group and "3×" in group, group
        s.js("document.querySelector('[data-testid=\"duplicates\"]').scrollIntoView({block: 'center'})")
        e2e.shot(s, "dashboard-duplicates")
        ctx["asserts"].append(f"Dashboard: one duplicate group of 3 copies, {want['reclaimable_bytes']} B reclaimable = `trainctl s3 dedup --json`")
    finally:
        s.quit()
        e2e.wait_app_exit()


def test_dashboard_shows_content_references_like_the_cli(driver_url, ctx):
    """On moto: two checkpoints sharing a 2 MiB frozen file, uploaded by the CLI with
    `--dedup=refs` (the file stored once, a reference at each key); the Dashboard's review shows
    the logical, stored and saved bytes `trainctl s3 review --json` reports."""
    import tempfile

    from cases.datasets import cli  # noqa: E402  (the CLI against moto, own config)

    s3, bucket, mib = ctx["s3"], "refs-e2e", 1 << 20
    s3.create_bucket(Bucket=bucket)
    src = tempfile.mkdtemp(dir=ctx["work"])
    frozen = bytes(range(256)) * (2 * mib // 256)
    for step in (100, 200):
        d = os.path.join(src, f"checkpoint-{step}")
        os.makedirs(d)
        with open(os.path.join(d, "frozen.safetensors"), "wb") as f:
            f.write(frozen)
        with open(os.path.join(d, "model.safetensors"), "wb") as f:
            f.write(os.urandom(mib))
        with open(os.path.join(d, "trainer_state.json"), "w") as f:
            f.write(json.dumps({"global_step": step}))
    cli(ctx["moto"], ctx["work"], "s3", "upload", "-r", src, f"s3://{bucket}/run/", "--dedup=refs")
    want = cli(ctx["moto"], ctx["work"], "s3", "review", f"s3://{bucket}/")
    want = (find_report(want) or want)["references"]
    assert want["refs"] == 2 and want["saved_bytes"] > 0 and want["logical_total"] - want["stored_total"] == want["saved_bytes"], want
    s = Session(driver_url, e2e.APP)
    try:
        e2e.connect_profile(s, ctx["moto"], name="refs")
        review_bucket(s, bucket)
        s.wait('[data-testid="dashboard-review"][data-state="done"] [data-testid="references"]', timeout=90, what="the content references of the review")
        shown = {k: int(s.attr('[data-testid="references"]', f"data-{k}")) for k in ("logical", "stored", "saved")}
        assert shown == {"logical": want["logical_total"], "stored": want["stored_total"], "saved": want["saved_bytes"]}, (shown, want)
        rows = s.js("return [...document.querySelectorAll('[data-testid=\"references-row\"]')].map(e => e.textContent)")
        assert len(rows) == 3 and "Saved by references" in rows[2], rows
        s.js("document.querySelector('[data-testid=\"references\"]').scrollIntoView({block: 'center'})")
        e2e.shot(s, "dashboard-references")
        ctx["asserts"].append(f"Dashboard: content references logical {want['logical_total']} B, stored {want['stored_total']} B, saved {want['saved_bytes']} B = `trainctl s3 review --json`")
    finally:
        s.quit()
        e2e.wait_app_exit()


def test_dashboard_deduplicates_from_a_plan_and_measures_compression(driver_url, ctx):
    """On moto, priced as AWS us-east-1 (the profile's `prices`, as a user sets it in the config):
    one 2 MiB checkpoint file stored three times (`checkpoint-100/`, the newest `checkpoint-200/`,
    `best/`) and a compressible 2 MiB log. The savings list offers "Deduplicate…": its dialog
    lists the copy kept (the newest checkpoint's) and the two deleted with 4 MiB in all; confirming
    deletes exactly those, with progress and a result. "Compress…" shows the log measured as zstd
    and the commands that re-upload it."""
    s3, bucket, mib = ctx["s3"], "dedup-e2e", 1 << 20
    s3.create_bucket(Bucket=bucket)
    weights = bytes(range(256)) * (2 * mib // 256)
    for step in (100, 200):
        s3.put_object(Bucket=bucket, Key=f"run/checkpoint-{step}/model.safetensors", Body=weights)
        state = '{"global_step": %d, "max_steps": 1000, "log_history": [{"step": %d, "loss": 1.0}], "best_metric": null}' % (step, step)
        s3.put_object(Bucket=bucket, Key=f"run/checkpoint-{step}/trainer_state.json", Body=state.encode())
    s3.put_object(Bucket=bucket, Key="run/best/model.safetensors", Body=weights)
    s3.put_object(Bucket=bucket, Key="run/logs/events.bin", Body=b"step=1 loss=0.25 lr=0.0001\n" * 80_000)
    s = Session(driver_url, e2e.APP)
    try:
        e2e.connect_profile(s, ctx["moto"], name="dedupe")
        config = os.path.join(ctx["work"], "config", "trainctl", "config.toml")
        text = open(config).read()
        assert "[profiles.dedupe]" in text, text
        open(config, "w").write(text.replace("[profiles.dedupe]", '[profiles.dedupe]\nprices = "aws/us-east-1"', 1))
        review_bucket(s, bucket)
        s.wait('[data-testid="dashboard-review"][data-state="done"] [data-testid="savings-action"][data-kind="dedup"]', timeout=90, what="the deduplicate action")
        s.wait('[data-testid="savings-action"][data-kind="compress"]', timeout=5, what="the compress action")
        s.js("document.querySelector('[data-testid=\"savings-action\"][data-kind=\"dedup\"]').scrollIntoView({block: 'center'})")
        e2e.shot(s, "dashboard-savings-dedup-compress")

        s.click('[data-testid="savings-action"][data-kind="compress"] [data-testid="savings-open"]')
        s.wait('[data-testid="compress-dialog"]', timeout=10)
        log = s.find_all('[data-testid="compress-object"][data-key="run/logs/events.bin"]')
        assert log and int(s.attr('[data-testid="compress-object"][data-key="run/logs/events.bin"]', "data-saved")) > mib, "the log is measured compressible"
        cmds = s.text('[data-testid="compress-commands"]')
        assert f"trainctl s3 upload ./trainctl-recompress/run/logs/events.bin s3://{bucket}/run/logs/events.bin --compress auto" in cmds, cmds
        e2e.shot(s, "dashboard-compress-dialog")
        s.click('[data-testid="compress-close"]')
        ctx["asserts"].append("Dashboard: Compress… shows the 2 MiB log measured as zstd and the exact download + upload --compress auto commands")

        s.click('[data-testid="savings-action"][data-kind="dedup"] [data-testid="savings-open"]')
        s.wait('[data-testid="dedup-dialog"]', timeout=60, what="the dedup plan")
        deleted = sorted(s.js("return [...document.querySelectorAll('[data-testid=\"dedup-delete-key\"] .key')].map(e => e.textContent)"))
        assert deleted == ["run/best/model.safetensors", "run/checkpoint-100/model.safetensors"], deleted
        assert int(s.attr('[data-testid="dedup-total"]', "data-bytes")) == 4 * mib
        assert "run/checkpoint-200/model.safetensors" in s.text('[data-testid="dedup-groups"]')
        e2e.shot(s, "dashboard-dedup-dialog")
        s.click('[data-testid="dedup-confirm"]')
        s.wait('[data-testid="dedup-result"]', timeout=60, what="the dedup result")
        assert s.attr('[data-testid="dedup-result"]', "data-deleted") == "2"
        assert int(s.attr('[data-testid="dedup-result"]', "data-bytes")) == 4 * mib
        left = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []))
        assert "run/checkpoint-200/model.safetensors" in left and not any(k in left for k in deleted), left
        e2e.shot(s, "dashboard-dedup-done")
        s.click('[data-testid="dedup-close"]')
        ctx["asserts"].append("Dashboard: Deduplicate… plans keep checkpoint-200 (newest), delete best/ and checkpoint-100 (4 MiB); confirm deletes exactly those")
    finally:
        s.quit()
        e2e.wait_app_exit()
