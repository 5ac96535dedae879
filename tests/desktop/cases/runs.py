"""Runs view (issue #6) in the real webview, against the embedded demo.

test_runs_view_shows_demo_runs_and_a_curve
    Try the demo → Runs. The demo bucket's runs (two HF runs with trainer_state.json and logs,
    a Lightning run with metrics.csv) are listed under s3://demo-training/runs/ with a status
    each; the finished HF run (global_step == max_steps) says Finished; selecting it draws a loss
    curve with uPlot (a canvas, and `data-points` > 0 from the run's trainer_state.json); the
    Lightning run's curve comes from its metrics.csv.
"""

import e2e
from webdriver import Session


def test_runs_view_shows_demo_runs_and_a_curve(driver_url, ctx):
    s = Session(driver_url, e2e.APP)
    try:
        try:
            s.wait('[data-testid="view-first-run"]', timeout=90, what="the first-run screen")
        except Exception:
            s.screenshot("/tmp/runs-e2e-debug.png")
            e2e.log(s.js("return document.body.innerHTML.slice(0, 1500)"))
            e2e.log(s.js_async("const src = [...document.scripts].map(x => x.src).find(Boolean); try { await import(src + '?again'); return 'imported ' + src; } catch (e) { return 'import failed: ' + String(e) + ' ' + (e && e.stack); }"))
            raise
        s.click('[data-testid="try-demo"]')
        s.wait('[data-testid="view-dashboard"]', timeout=40)
        e2e.nav(s, "runs", "view-runs")
        run_names = "return [...document.querySelectorAll('[data-testid=\"runs-row\"]')].map(r => r.dataset.run)"
        names = s.wait_until(lambda: (lambda n: n if n and len(n) >= 3 else None)(s.js(run_names)), "three demo runs", timeout=40)
        assert "llama-7b-sft" in names, names
        assert any("resnet50-lightning" in n for n in names), names
        s.click('[data-testid="runs-row"][data-run="llama-7b-sft"] td.name')
        s.wait('[data-testid="runs-row"].current[data-run="llama-7b-sft"]')
        status = s.js("return document.querySelector('[data-testid=\"runs-row\"].current [data-testid=\"runs-status\"]').textContent.trim()")
        assert status == "Finished", status
        chart = '[data-testid="runs-curves"][data-run="llama-7b-sft"] [data-testid="runs-chart"]'
        s.wait(f"{chart} canvas", timeout=30, what="the loss chart of llama-7b-sft")
        points = int(s.attr(chart, "data-points"))
        series = s.attr(chart, "data-series")
        assert points > 10 and "loss" in series.split(","), (points, series)
        e2e.shot(s, "runs")
        ctx["asserts"].append(f"demo Runs view: {len(names)} runs, llama-7b-sft Finished, curve of {points} points ({series})")
        lightning = next(n for n in names if "resnet50-lightning" in n)
        s.click(f'[data-testid="runs-row"][data-run="{lightning}"] td.name')
        lchart = f'[data-testid="runs-curves"][data-run="{lightning}"] [data-testid="runs-chart"]'
        s.wait(f"{lchart} canvas", timeout=30, what="the Lightning run's chart")
        lseries = s.attr(lchart, "data-series")
        assert "val_loss" in lseries.split(","), lseries
        ctx["asserts"].append("Lightning run: curve from metrics.csv (val_loss)")
    finally:
        s.quit()
        e2e.wait_app_exit()
