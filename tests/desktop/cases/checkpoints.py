"""Checkpoints view e2e (issue #4): the cleanup planner and the lifecycle editor against moto,
plus screenshots of the view on the embedded demo.

  test_checkpoint_planner_moto    a run of 5 complete HF checkpoints + 1 incomplete on moto:
                                  timeline badges, plan keep-last-n 2, the confirm dialog lists
                                  the keys and bytes, apply → exactly the planned objects are gone
                                  on the server; a checkpoint appearing after the plan → "re-plan".
  test_checkpoint_lifecycle_moto  the lifecycle editor writes the trainctl rule; the rule is on
                                  the server, unrelated rules are kept.
  test_checkpoint_demo_shots      docs/screenshots/app-checkpoints*.png on the demo bucket.
"""

import json
import os
import time

import e2e
from webdriver import Session

PREFIX = "ckpt-e2e/"
RUN = "run-a"
STEPS = [100, 200, 300, 400, 500]


def human_bytes(n):
    """The UI's humanBytes (ui/src/lib/format.ts: binary units, three significant digits)."""
    if n < 1024:
        return f"{n} B"
    units = ["B", "KiB", "MiB", "GiB", "TiB"]
    v, u = float(n), 0
    while v >= 1024 and u < len(units) - 1:
        v /= 1024
        u += 1
    digits = 0 if v >= 100 else 1 if v >= 10 else 2
    return f"{v:.{digits}f} {units[u]}"


def keys_under(s3, prefix):
    out, token = [], None
    while True:
        kw = {"Bucket": e2e.BUCKET, "Prefix": prefix}
        if token:
            kw["ContinuationToken"] = token
        page = s3.list_objects_v2(**kw)
        out += [(o["Key"], o["Size"]) for o in page.get("Contents", [])]
        if not page.get("IsTruncated"):
            return dict(out)
        token = page["NextContinuationToken"]


def seed_run(s3):
    """5 complete HF checkpoints (weights, optimizer, trainer_state.json last) + 1 without
    trainer_state.json (incomplete: the Trainer has not finished writing it)."""
    for k in keys_under(s3, PREFIX):
        s3.delete_object(Bucket=e2e.BUCKET, Key=k)
    for step in STEPS:
        d = f"{PREFIX}{RUN}/checkpoint-{step}/"
        s3.put_object(Bucket=e2e.BUCKET, Key=d + "model.safetensors", Body=os.urandom(40_000 + step))
        s3.put_object(Bucket=e2e.BUCKET, Key=d + "optimizer.pt", Body=os.urandom(20_000))
        state = {"global_step": step, "epoch": step / 100, "best_metric": None, "best_model_checkpoint": None,
                 "log_history": [{"step": step, "eval_loss": round(2.0 - step / 1000, 3)}]}
        s3.put_object(Bucket=e2e.BUCKET, Key=d + "trainer_state.json", Body=json.dumps(state).encode())
    s3.put_object(Bucket=e2e.BUCKET, Key=f"{PREFIX}{RUN}/checkpoint-600/model.safetensors", Body=os.urandom(41_000))




def open_location(s, location, grace="0"):
    e2e.nav(s, "checkpoints", "view-checkpoints")
    # The view scans the first bucket on its own first; wait for that, then scan ours.
    s.wait('[data-testid="checkpoints-summary"], [data-testid="checkpoints-error"], [data-testid="checkpoints-empty"]', timeout=40)
    s.type('[data-testid="checkpoints-location"]', location)
    s.type('[data-testid="checkpoints-grace"]', grace)
    s.wait('[data-testid="checkpoints-scan"]:not([disabled])')
    s.click('[data-testid="checkpoints-scan"]')
    s.wait_until(lambda: s.attr('[data-testid="checkpoints-summary"]', "data-location") == location.rstrip("/") + "/", f"the scan of {location}", timeout=40)


def plan_keep_last(s, n):
    s.click('[data-testid="tab-cleanup"]')
    s.type('[data-testid="policy-keep-last-n"]', str(n))
    s.click('[data-testid="planner-plan"]')
    s.wait('[data-testid="cleanup-planner"][data-phase="planned"]', timeout=30, what="the cleanup plan")


def test_checkpoint_planner_moto(driver_url, ctx):
    s3 = ctx["s3"]
    seed_run(s3)
    before = keys_under(s3, PREFIX)
    s = Session(driver_url, e2e.APP)
    try:
        e2e.connect_profile(s, ctx["moto"])
        open_location(s, f"s3://{e2e.BUCKET}/{PREFIX}")
        s.click(f'[data-testid="run-row"][data-run="{RUN}"]', timeout=30)
        s.wait_until(lambda: len(s.find_all('[data-testid="checkpoint-row"]')) == 6, "6 checkpoints on the timeline")
        incomplete = s.find_all('[data-testid="checkpoint-row"][data-complete="false"]')
        assert len(incomplete) == 1, s.text('[data-testid="checkpoint-timeline"]')
        assert s.attr('[data-testid="checkpoint-row"][data-complete="false"]', "data-id") == f"{RUN}/checkpoint-600/"
        ctx["asserts"].append("Checkpoints view on moto: run-a shows 6 checkpoints, checkpoint-600/ badged incomplete")

        plan_keep_last(s, 2)
        deleted = [s.attr(f'[data-testid="plan-row"][data-id="{RUN}/checkpoint-{st}/"]', "data-action") for st in STEPS + [600]]
        assert deleted == ["delete", "delete", "delete", "keep", "keep", "keep"], deleted
        planned = {k: v for k, v in before.items() if any(f"/checkpoint-{st}/" in k for st in (100, 200, 300))}
        assert s.attr('[data-testid="planner-summary"]', "data-bytes") == str(sum(planned.values()))
        s.click('[data-testid="planner-apply"]')
        s.wait('[data-testid="cleanup-dialog"][open]', what="the cleanup confirm dialog")
        listed = s.text('[data-testid="cleanup-dialog-keys"]')
        for k in planned:
            assert k in listed, (k, listed)
        for k in before:
            if k not in planned:
                assert k not in listed, (k, listed)
        total = s.text('[data-testid="cleanup-dialog-total"]')
        assert total == human_bytes(sum(planned.values())), (total, sum(planned.values()))
        ctx["asserts"].append(f"keep-last-n 2 plan: dialog lists exactly the {len(planned)} planned keys, total {total}")
        s.click('[data-testid="cleanup-confirm"]')
        s.wait('[data-testid="planner-result"]', timeout=60, what="the cleanup result")
        assert s.attr('[data-testid="planner-result"]', "data-deleted") == "3"
        after = keys_under(s3, PREFIX)
        assert set(after) == set(before) - set(planned), sorted(set(before) ^ set(after))
        assert f"{PREFIX}{RUN}/checkpoint-500/trainer_state.json" in after and f"{PREFIX}{RUN}/checkpoint-600/model.safetensors" in after
        ctx["asserts"].append("apply: exactly the planned objects are gone on moto; checkpoint-400/500 (newest complete) and 600 (incomplete) remain")

        # A checkpoint that appears between plan and apply: nothing deleted, the UI offers to re-plan.
        s.wait_until(lambda: len(s.find_all('[data-testid="run-row"]')) >= 1, "the rescanned runs")
        plan_keep_last(s, 1)
        assert s.attr('[data-testid="planner-summary"]', "data-delete") == "1"
        for name in ("model.safetensors", "trainer_state.json"):
            s3.put_object(Bucket=e2e.BUCKET, Key=f"{PREFIX}{RUN}/checkpoint-700/{name}", Body=b"{}" if name.endswith(".json") else os.urandom(1000))
        s.click('[data-testid="planner-apply"]')
        s.wait('[data-testid="cleanup-dialog"][open]')
        s.click('[data-testid="cleanup-confirm"]')
        s.wait('[data-testid="planner-stale"]', timeout=30, what="the stale-plan message")
        assert f"{PREFIX}{RUN}/checkpoint-400/model.safetensors" in keys_under(s3, PREFIX), "a stale plan deleted something"
        s.click('[data-testid="planner-replan"]')
        s.wait('[data-testid="cleanup-planner"][data-phase="planned"]', timeout=30)
        assert s.attr('[data-testid="planner-summary"]', "data-delete") == "2"
        ctx["asserts"].append("checkpoint-700 appearing after the plan → plan_stale shown, nothing deleted; Re-plan plans 2 deletions")
    finally:
        s.quit()
        e2e.wait_app_exit()


def test_checkpoint_lifecycle_moto(driver_url, ctx):
    s3 = ctx["s3"]
    s3.put_bucket_lifecycle_configuration(Bucket=e2e.BUCKET, LifecycleConfiguration={"Rules": [
        {"ID": "logs-expire", "Filter": {"Prefix": "logs/"}, "Status": "Enabled", "Expiration": {"Days": 90}},
    ]})
    s = Session(driver_url, e2e.APP)
    try:
        e2e.connect_profile(s, ctx["moto"])
        open_location(s, f"s3://{e2e.BUCKET}/{PREFIX}")
        s.click('[data-testid="tab-lifecycle"]', timeout=30)
        s.wait('[data-testid="lifecycle-rule"][data-id="logs-expire"]', timeout=30, what="the existing rule")
        s.type('[data-testid="lifecycle-expire-days"]', "30")
        s.click('[data-testid="lifecycle-plan"]')
        s.wait('[data-testid="lifecycle-diff"]', timeout=30, what="the lifecycle diff")
        rule_id = s.attr('[data-testid="lifecycle-change"][data-change="added"]', "data-id")
        assert rule_id == "trainctl-ckpt-e2e", rule_id
        assert s.attr('[data-testid="lifecycle-change"][data-id="logs-expire"]', "data-change") == "kept_unrelated"
        e2e.shot(s, "checkpoints-lifecycle")
        s.click('[data-testid="lifecycle-apply"]')
        s.wait('[data-testid="lifecycle-dialog"][open]')
        s.click('[data-testid="lifecycle-confirm"]')
        s.wait('[data-testid="lifecycle-result"]', timeout=30, what="the lifecycle result")
        rules = {r["ID"]: r for r in s3.get_bucket_lifecycle_configuration(Bucket=e2e.BUCKET)["Rules"]}
        assert set(rules) == {"logs-expire", rule_id}, rules
        mine = rules[rule_id]
        assert mine["Expiration"]["Days"] == 30, mine
        assert mine["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] == 7, mine
        s.wait(f'[data-testid="lifecycle-rule"][data-id="{rule_id}"]', timeout=20)
        ctx["asserts"].append(f"lifecycle editor: rule {rule_id} (expire 30 d, abort multipart 7 d) on moto; logs-expire kept")
    finally:
        s.quit()
        e2e.wait_app_exit()
        s3.delete_bucket_lifecycle(Bucket=e2e.BUCKET)


def test_checkpoint_demo_shots(driver_url, ctx):
    s = Session(driver_url, e2e.APP)
    try:
        s.wait('[data-testid="view-first-run"]', timeout=40)
        s.click('[data-testid="try-demo"]')
        s.wait('[data-testid="view-dashboard"]', timeout=40)
        time.sleep(8)  # the demo was seeded just now: let its checkpoints age past the 5 s window
        open_location(s, "s3://demo-training/runs/", grace="5")
        s.click('[data-testid="run-row"][data-run="llama-7b-sft"]', timeout=40)
        s.wait('[data-testid="checkpoint-row"]', timeout=20)
        badge = '[data-testid="checkpoint-row"][data-id="llama-7b-sft/checkpoint-3500/"] [data-testid="checkpoint-badge"]'
        s.wait(badge, timeout=10, what="the crashed save on the timeline")
        assert s.attr(badge, "data-state") == "abandoned", s.attr(badge, "data-state")
        e2e.shot(s, "checkpoints")
        plan_keep_last(s, 2)
        s.wait('[data-testid="planner-abandoned"]', timeout=10, what="the plan's word on abandoned checkpoints")
        note = s.text('[data-testid="planner-abandoned"]')
        assert "--delete-abandoned" in note and "kept" in note, note
        e2e.shot(s, "checkpoints-planner")
        s.click('[data-testid="planner-apply"]')
        s.wait('[data-testid="cleanup-dialog"][open]')
        e2e.shot(s, "checkpoints-confirm")
        s.click('[data-testid="cleanup-cancel"]')
        s.click('[data-testid="tab-lifecycle"]')
        s.wait('[data-testid="lifecycle-editor"] [data-testid="lifecycle-plan"], [data-testid="lifecycle-error"]', timeout=30)
        if s.find_all('[data-testid="lifecycle-plan"]'):
            s.type('[data-testid="lifecycle-expire-days"]', "180")
            s.click('[data-testid="lifecycle-plan"]')
            s.wait('[data-testid="lifecycle-diff"], [data-testid="lifecycle-error"]', timeout=30)
        e2e.shot(s, "checkpoints-lifecycle-unsupported")
        ctx["asserts"].append(f"demo: checkpoint-3500/ badged abandoned, the planner says: {note}; screenshots of the Checkpoints timeline, planner, confirm dialog and lifecycle editor")
    finally:
        s.quit()
        e2e.wait_app_exit()
