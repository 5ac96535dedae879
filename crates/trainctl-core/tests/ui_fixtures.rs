//! The UI's unit tests run on what the core really answers for the embedded demo — its listing,
//! a cleanup plan of the real planner, the review, the runs and a run's curves — not on a second
//! planner written in TypeScript. This writes those answers to `ui/tests/fixtures/*.json`
//! (`TRAINCTL_TS_WRITE=1`, part of `make bindings`), and otherwise checks that the committed
//! fixtures still have the shape the core produces (a renamed field fails here, not in a view).

use serde_json::Value;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use trainctl_core::app::checkpoints::{DetectForm, PolicyForm};
use trainctl_core::app::App;
use trainctl_core::demo::DemoOptions;
use trainctl_core::event::NullSink;

fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../ui/tests/fixtures")
}

/// Every path of keys in a JSON value (`runs[].checkpoints[].step`): its shape, not its values.
fn shape(v: &Value, at: &str, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                let p = format!("{at}.{k}");
                out.insert(p.clone());
                shape(v, &p, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|v| shape(v, &format!("{at}[]"), out)),
        _ => {}
    }
}

fn shape_of(v: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    shape(v, "", &mut out);
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn ui_fixtures_are_what_the_core_answers_for_the_demo() {
    let data = tempfile::tempdir().unwrap();
    let app = App::new(Arc::new(NullSink), None);
    app.start_demo_with(DemoOptions { data_dir: Some(data.path().to_path_buf()), port: 0, checkpoint_every: None }).await.unwrap();
    let runs_at = "s3://demo-training/runs/";
    let detect = Some(DetectForm { grace_secs: Some(0), ..Default::default() });
    let listing = app.checkpoints_discover(runs_at, detect.clone()).await.unwrap();
    let policy = PolicyForm { keep_last_n: Some(2), ..Default::default() };
    let plan = app.checkpoints_plan(runs_at, None, policy, detect).await.unwrap();
    let review = app.review_run("demo-training", "", None).await.unwrap();
    let runs = app.runs_list(runs_at).await.unwrap();
    let first = runs.iter().find(|r| !r.metric_sources.is_empty()).expect("a demo run with metrics");
    let metrics = app.run_metrics(runs_at, &first.name, None).await.unwrap();
    let fixtures = [
        ("demo-checkpoints.json", serde_json::to_value(&listing).unwrap()),
        ("demo-cleanup-plan.json", serde_json::to_value(&plan).unwrap()),
        ("demo-review.json", serde_json::to_value(&review).unwrap()),
        ("demo-runs.json", serde_json::to_value(&runs).unwrap()),
        ("demo-run-metrics.json", serde_json::to_value(&metrics).unwrap()),
    ];
    let dir = fixtures_dir();
    if std::env::var("TRAINCTL_TS_WRITE").as_deref() == Ok("1") {
        std::fs::create_dir_all(&dir).unwrap();
        for (name, v) in &fixtures {
            std::fs::write(dir.join(name), serde_json::to_string_pretty(v).unwrap() + "\n").unwrap();
        }
        return;
    }
    let mut stale = Vec::new();
    for (name, fresh) in &fixtures {
        let committed: Value = match std::fs::read(dir.join(name)) {
            Ok(b) => serde_json::from_slice(&b).unwrap(),
            Err(_) => {
                stale.push(format!("{name} is missing"));
                continue;
            }
        };
        let (old, new) = (shape_of(&committed), shape_of(fresh));
        if old != new {
            let diff: Vec<&String> = old.symmetric_difference(&new).take(8).collect();
            stale.push(format!("{name} differs in shape: {diff:?}"));
        }
    }
    assert!(stale.is_empty(), "ui/tests/fixtures/ is stale ({}): run `make bindings` and commit the result", stale.join("; "));
}
