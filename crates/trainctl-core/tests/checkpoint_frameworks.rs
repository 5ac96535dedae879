//! Checkpoint truth on folders the real frameworks wrote (`tests/fixtures/frameworks/runs`,
//! written by transformers, Lightning, torch DCP and DeepSpeed through `generate.py`): every checkpoint found
//! with its step, epoch and exact metrics as `expected.json` (Python's own values) says,
//! completeness right for every layout (a crashed Trainer save, shard folders), keep-best picking
//! what the frameworks call best — locally, and the same on S3 copies (moto and Garage).

use aws_sdk_s3::primitives::ByteStream;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use trainctl_core::checkpoint::{
    self, Action, Checkpoint, Completeness, DetectOptions, KeepBest, Layout, Location, Mode, Policy,
};
use trainctl_core::s3::{Connection, S3Url};

mod common;

const DAY: i64 = 86_400;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/frameworks")
}

fn expected() -> Value {
    serde_json::from_slice(&std::fs::read(fixtures().join("expected.json")).unwrap()).unwrap()
}

/// Copies the fixture runs (links as links) and dates every file `age` ago.
fn copy_runs(age: Duration) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let src = fixtures().join("runs");
    let when = SystemTime::now() - age;
    for e in walkdir::WalkDir::new(&src).min_depth(1) {
        let e = e.unwrap();
        let dest = tmp.path().join(e.path().strip_prefix(&src).unwrap());
        if e.file_type().is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
        } else if e.file_type().is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(e.path()).unwrap(), &dest).unwrap();
            let t = rustix::fs::Timespec {
                tv_sec: when
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .unwrap()
                    .as_secs() as i64,
                tv_nsec: 0,
            };
            let times = rustix::fs::Timestamps {
                last_access: t,
                last_modification: t,
            };
            rustix::fs::utimensat(
                rustix::fs::CWD,
                &dest,
                &times,
                rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
            )
            .unwrap();
        } else {
            std::fs::copy(e.path(), &dest).unwrap();
            std::fs::File::options()
                .write(true)
                .open(&dest)
                .unwrap()
                .set_modified(when)
                .unwrap();
        }
    }
    tmp
}

fn opts() -> DetectOptions {
    DetectOptions {
        now: checkpoint::detect::now_secs(),
        ..DetectOptions::new()
    }
}

async fn discover_local(root: &Path, o: &DetectOptions) -> Vec<Checkpoint> {
    let found = checkpoint::discover(&Location::Local(root.to_path_buf()), None, o)
        .await
        .unwrap();
    found.runs.into_iter().flat_map(|r| r.checkpoints).collect()
}

fn layout_name(l: Layout) -> String {
    serde_json::to_value(l)
        .unwrap()
        .as_str()
        .unwrap()
        .to_string()
}

/// Every expected checkpoint is found with exactly the framework's values; nothing else is.
fn assert_matches_expected(found: &[Checkpoint], where_: &str) {
    let exp = expected();
    let want = exp["checkpoints"].as_array().unwrap();
    let ids: Vec<&str> = found.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(found.len(), want.len(), "{where_}: found {ids:?}");
    for w in want {
        let id = w["id"].as_str().unwrap();
        let c = found
            .iter()
            .find(|c| c.id == id)
            .unwrap_or_else(|| panic!("{where_}: {id} not found in {ids:?}"));
        assert_eq!(c.run, w["run"].as_str().unwrap(), "{where_}: run of {id}");
        assert_eq!(
            layout_name(c.layout),
            w["layout"].as_str().unwrap(),
            "{where_}: layout of {id}"
        );
        assert_eq!(c.step, w["step"].as_u64(), "{where_}: step of {id}");
        assert_eq!(
            c.epoch.map(f64::to_bits),
            w["epoch"].as_f64().map(f64::to_bits),
            "{where_}: epoch of {id}: {:?} vs {}",
            c.epoch,
            w["epoch"]
        );
        let metrics: BTreeMap<String, u64> = w["metrics"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_f64().unwrap().to_bits()))
            .collect();
        let got: BTreeMap<String, u64> = c
            .metrics
            .iter()
            .filter(|(k, _)| metrics.contains_key(*k))
            .map(|(k, v)| (k.clone(), v.to_bits()))
            .collect();
        assert_eq!(
            got, metrics,
            "{where_}: metrics of {id} must be bit-exact (Python repr): {:?} vs {}",
            c.metrics, w["metrics"]
        );
        match w["complete"].as_str().unwrap() {
            "complete" => assert_eq!(c.complete, Completeness::Complete, "{where_}: {id}"),
            "crashed" => assert!(
                c.complete.is_abandoned(),
                "{where_}: {id} is a crashed save, old: abandoned, got {:?}",
                c.complete
            ),
            other => panic!("unknown expectation {other}"),
        }
        if let Some(twin) = w.get("same_as").and_then(Value::as_str) {
            assert_eq!(
                c.same_as.as_deref(),
                Some(twin),
                "{where_}: {id} is byte-identical to {twin}"
            );
        }
        if w["layout"] == "hf_trainer" && w["framework_best"] == true {
            assert!(
                c.framework_keep
                    .as_deref()
                    .is_some_and(|k| k.contains("best_model_checkpoint")),
                "{where_}: {id} is the Trainer's best"
            );
        }
    }
}

fn keep_best(metric: &str) -> Policy {
    Policy {
        keep_best: Some(KeepBest {
            k: 1,
            metric: metric.into(),
            mode: Mode::Min,
        }),
        ..Default::default()
    }
}

/// The checkpoint kept by `--keep-best 1` (not by a safety rule) in run `run`.
fn best_kept(found: &[Checkpoint], run: &str, metric: &str) -> Vec<String> {
    let r = checkpoint::Run {
        name: run.into(),
        checkpoints: found.iter().filter(|c| c.run == run).cloned().collect(),
    };
    let plan =
        checkpoint::plan_retention(&r, &keep_best(metric), checkpoint::detect::now_secs()).unwrap();
    plan.items
        .iter()
        .filter(|i| {
            i.action == Action::Keep && i.reasons.iter().any(|r| r.starts_with("best 1 by"))
        })
        .map(|i| i.checkpoint.id.clone())
        .collect()
}

fn assert_best_as_the_frameworks_say(found: &[Checkpoint], where_: &str) {
    let exp = expected();
    for b in exp["best"].as_array().unwrap() {
        let run = b["run"].as_str().unwrap();
        if let Some(hf) = b["best_model_checkpoint"].as_str() {
            assert_eq!(
                best_kept(found, run, "eval_loss"),
                [format!("{run}/{hf}/")],
                "{where_}: keep-best by eval_loss in {run}"
            );
        } else {
            let lightning = b["best_model_path"].as_str().unwrap();
            assert_eq!(
                best_kept(found, run, "val_loss"),
                [lightning.to_string()],
                "{where_}: keep-best by val_loss (metrics.csv) in {run}"
            );
        }
    }
}

/// The Runs view on the framework runs: a Lightning run is the folder holding `checkpoints/` and
/// `lightning_logs/`, its curves come from `metrics.csv` (the lowest val_loss there is Lightning's
/// best score, bit-exact); an HF run's come from its newest `trainer_state.json`.
async fn assert_runs_view(loc: &Location, conn: Option<&Connection>, now: i64, where_: &str) {
    use trainctl_core::runs::overview::{list_runs, run_metrics};
    let runs = list_runs(loc, conn, now).await.unwrap();
    let names: std::collections::BTreeSet<&str> = runs.iter().map(|r| r.name.as_str()).collect();
    let exp = expected();
    let want: std::collections::BTreeSet<&str> = exp["checkpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["run"].as_str().unwrap())
        .collect();
    assert_eq!(names, want, "{where_}: the runs listed");
    for b in exp["best"].as_array().unwrap() {
        let run = b["run"].as_str().unwrap();
        let r = runs.iter().find(|r| r.name == run).unwrap();
        let (source, metric, best) = match b["best_model_checkpoint"].as_str() {
            Some(_) => (format!("{run}/checkpoint-10/trainer_state.json"), "eval_loss", b["best_metric"].as_f64().unwrap()),
            None => {
                let logs = if run.ends_with("version_0") { run.to_string() } else { format!("{run}/lightning_logs/version_0") };
                assert!(b["best_model_path"].as_str().unwrap().starts_with(&format!("{run}/checkpoints/")), "{where_}: {b}");
                (format!("{logs}/metrics.csv"), "val_loss", b["best_model_score"].as_f64().unwrap())
            }
        };
        assert_eq!(r.metric_sources.first(), Some(&source), "{where_}: the first metric source of {run}");
        let m = run_metrics(loc, conn, run, None).await.unwrap();
        let series = m.series.iter().find(|s| s.name == metric).unwrap_or_else(|| panic!("{where_}: {metric} of {run}"));
        let lowest = series.values.iter().copied().filter(|v| v.is_finite()).fold(f64::INFINITY, f64::min);
        assert_eq!(lowest.to_bits(), best.to_bits(), "{where_}: the lowest {metric} of {run} is the framework's best ({lowest} vs {best})");
    }
}

#[tokio::test]
async fn every_framework_checkpoint_is_found_with_its_exact_step_epoch_metrics_and_state() {
    let tree = copy_runs(Duration::from_secs(3 * DAY as u64));
    let found = discover_local(tree.path(), &opts()).await;
    assert_matches_expected(&found, "local");
    assert_best_as_the_frameworks_say(&found, "local");
    let loc = Location::Local(tree.path().to_path_buf());
    assert_runs_view(&loc, None, opts().now, "local").await;
}

#[tokio::test]
async fn a_crashed_trainer_save_is_in_progress_while_young_and_abandoned_once_old() {
    let tree = copy_runs(Duration::from_secs(600));
    let found = discover_local(tree.path(), &opts()).await;
    let crashed = found
        .iter()
        .find(|c| c.id == "hf-crashed/checkpoint-6/")
        .unwrap();
    assert!(
        matches!(&crashed.complete, Completeness::Incomplete { reason } if reason.contains("trainer_state.json")),
        "{:?}",
        crashed.complete
    );
    let later = DetectOptions {
        now: checkpoint::detect::now_secs() + 7 * 3600,
        ..opts()
    };
    let crashed = discover_local(tree.path(), &later)
        .await
        .into_iter()
        .find(|c| c.id == "hf-crashed/checkpoint-6/")
        .unwrap();
    assert!(crashed.complete.is_abandoned(), "{:?}", crashed.complete);
    let sooner = DetectOptions {
        abandoned_after: Duration::from_secs(60),
        ..opts()
    };
    assert!(
        discover_local(tree.path(), &sooner)
            .await
            .iter()
            .any(|c| c.id == "hf-crashed/checkpoint-6/" && c.complete.is_abandoned()),
        "--abandoned-after 1m"
    );
}

/// DeepSpeed's own crashed save: `global_step6/` holds its model states but not its ZeRO optimizer
/// states, and `latest` (written last) still names `global_step4`. Young it is a save in progress,
/// old it is abandoned; a cleanup never takes the step `latest` names (the resume point), and the
/// run folder's `latest` and `zero_to_fp32.py` belong to no checkpoint.
#[tokio::test]
async fn a_crashed_deepspeed_save_is_newer_than_latest_and_abandoned_once_old() {
    let tree = copy_runs(Duration::from_secs(600));
    let found = discover_local(tree.path(), &opts()).await;
    let get = |found: &[Checkpoint], id: &str| found.iter().find(|c| c.id == id).unwrap().clone();
    let crashed = get(&found, "deepspeed-crashed/global_step6/");
    assert!(
        matches!(&crashed.complete, Completeness::Incomplete { reason } if reason.contains("`latest` names (4;")),
        "{:?}",
        crashed.complete
    );
    assert_eq!(crashed.files.len(), 1, "model states only: {:?}", crashed.files);
    for c in found.iter().filter(|c| c.run.starts_with("deepspeed")) {
        assert!(
            c.files.iter().all(|f| f.path.starts_with(&c.id)),
            "{}: {:?}",
            c.id,
            c.files
        );
    }
    let later = DetectOptions {
        now: checkpoint::detect::now_secs() + 7 * 3600,
        ..opts()
    };
    let found = checkpoint::discover(&Location::Local(tree.path().to_path_buf()), None, &later)
        .await
        .unwrap();
    let run = found
        .runs
        .iter()
        .find(|r| r.name == "deepspeed-crashed")
        .unwrap();
    let crashed = get(&run.checkpoints, "deepspeed-crashed/global_step6/");
    assert!(crashed.complete.is_abandoned(), "{:?}", crashed.complete);
    assert!(
        !crashed.complete_reason().unwrap().contains("still"),
        "an abandoned save is not said to be in progress: {:?}",
        crashed.complete
    );
    let policy = Policy {
        keep_last_n: Some(1),
        delete_abandoned: true,
        ..Default::default()
    };
    let plan = checkpoint::plan_retention(run, &policy, later.now).unwrap();
    let doomed: Vec<&str> = plan.deletions().map(|i| i.checkpoint.id.as_str()).collect();
    assert_eq!(
        doomed,
        ["deepspeed-crashed/global_step2/", "deepspeed-crashed/global_step6/"],
        "global_step4 (what `latest` names) stays"
    );
}

#[tokio::test]
async fn abandoned_checkpoints_go_only_when_asked_and_never_the_newest_complete() {
    let tree = copy_runs(Duration::from_secs(3 * DAY as u64));
    let found = checkpoint::discover(&Location::Local(tree.path().to_path_buf()), None, &opts())
        .await
        .unwrap();
    let run = found.runs.iter().find(|r| r.name == "hf-crashed").unwrap();
    let last2 = Policy {
        keep_last_n: Some(2),
        ..Default::default()
    };
    let plan = checkpoint::plan_retention(run, &last2, opts().now).unwrap();
    let item = |p: &checkpoint::Plan, id: &str| {
        p.items
            .iter()
            .find(|i| i.checkpoint.id == id)
            .unwrap()
            .clone()
    };
    let crashed = item(&plan, "hf-crashed/checkpoint-6/");
    assert_eq!(crashed.action, Action::Keep);
    assert!(
        crashed.reasons[0].contains("--delete-abandoned"),
        "{:?}",
        crashed.reasons
    );
    assert!(checkpoint::policy::abandoned_note(&[plan])
        .unwrap()
        .contains("kept; delete them with --delete-abandoned"));

    let asked = Policy {
        delete_abandoned: true,
        ..last2
    };
    let plan = checkpoint::plan_retention(run, &asked, opts().now).unwrap();
    assert_eq!(
        item(&plan, "hf-crashed/checkpoint-6/").action,
        Action::Delete
    );
    assert_eq!(
        item(&plan, "hf-crashed/checkpoint-4/").action,
        Action::Keep,
        "the newest complete checkpoint stays"
    );
    assert!(
        checkpoint::policy::abandoned_note(std::slice::from_ref(&plan))
            .unwrap()
            .starts_with("deleting 1 abandoned")
    );

    // --delete-abandoned alone cleans only the crashed save.
    let only = Policy {
        delete_abandoned: true,
        ..Default::default()
    };
    let plan = checkpoint::plan_retention(run, &only, opts().now).unwrap();
    let doomed: Vec<&str> = plan.deletions().map(|i| i.checkpoint.id.as_str()).collect();
    assert_eq!(doomed, ["hf-crashed/checkpoint-6/"]);

    // A young crashed save (a writer may still be there) is never deleted, even when asked.
    let young = copy_runs(Duration::from_secs(600));
    let found = checkpoint::discover(&Location::Local(young.path().to_path_buf()), None, &opts())
        .await
        .unwrap();
    let run = found.runs.iter().find(|r| r.name == "hf-crashed").unwrap();
    let plan = checkpoint::plan_retention(run, &only, opts().now).unwrap();
    assert_eq!(plan.deletions().count(), 0);
}

#[tokio::test]
async fn save_pretrained_folders_are_complete_only_with_every_shard_the_index_names() {
    let tree = copy_runs(Duration::from_secs(DAY as u64));
    let dir = tree.path().join("hf-export/checkpoint-100");
    std::fs::remove_file(dir.join("model-00003-of-00004.safetensors")).unwrap();
    // A single-file export that has written its config but not its weights yet.
    std::fs::remove_file(
        tree.path()
            .join("hf-export/checkpoint-300/model.safetensors"),
    )
    .unwrap();
    let o = DetectOptions {
        abandoned_after: Duration::MAX,
        ..opts()
    };
    let found = discover_local(tree.path(), &o).await;
    let c = |id: &str| found.iter().find(|c| c.id == id).unwrap().clone();
    assert!(
        c("hf-export/checkpoint-100/")
            .complete_reason()
            .unwrap()
            .contains("model-00003-of-00004.safetensors"),
        "{:?}",
        c("hf-export/checkpoint-100/").complete
    );
    assert!(
        c("hf-export/checkpoint-300/")
            .complete_reason()
            .unwrap()
            .contains("no weights"),
        "{:?}",
        c("hf-export/checkpoint-300/").complete
    );
    assert!(c("hf-export/checkpoint-200/").complete.is_complete());
    assert_eq!(c("hf-export/checkpoint-200/").layout, Layout::HfPretrained);
}

#[tokio::test]
async fn hostile_indexes_states_and_metric_files_are_refused_or_capped_never_followed() {
    let tree = copy_runs(Duration::from_secs(DAY as u64));
    let root = tree.path();
    // An index naming a shard outside the folder (which exists there: it must not be followed).
    let idx = root.join("hf-export/checkpoint-200/model.safetensors.index.json");
    let mut v: Value = serde_json::from_slice(&std::fs::read(&idx).unwrap()).unwrap();
    v["weight_map"]["lm_head.weight"] =
        Value::String("../checkpoint-100/model-00004-of-00004.safetensors".into());
    std::fs::write(&idx, v.to_string()).unwrap();
    // A trainer_state.json cut short.
    let state = root.join("hf-trainer/checkpoint-10/trainer_state.json");
    let text = std::fs::read(&state).unwrap();
    std::fs::write(&state, &text[..text.len() / 2]).unwrap();
    // metrics.csv: NaN for the newest epoch, a missing column, a ragged row, inf.
    let csv = root.join("lightning/lightning_logs/version_0/metrics.csv");
    let mut rows = std::fs::read_to_string(&csv)
        .unwrap()
        .replace(",,0.007444215007126331", ",,nan");
    rows.push_str("9,99\n5,35,1,2,3,4\n6,41,,inf\n");
    std::fs::write(&csv, rows).unwrap();
    let o = DetectOptions {
        abandoned_after: Duration::MAX,
        ..opts()
    };
    let found = discover_local(root, &o).await;
    let c = |id: &str| found.iter().find(|c| c.id == id).unwrap().clone();
    assert!(c("hf-export/checkpoint-200/")
        .complete_reason()
        .unwrap()
        .contains("outside the checkpoint's folder"));
    assert!(c("hf-trainer/checkpoint-10/")
        .complete_reason()
        .unwrap()
        .contains("does not parse"));
    assert!(c("lightning/checkpoints/epoch=2-step=18.ckpt").metrics["val_loss"].is_nan());
    // The NaN never ranks as best: the next lowest val_loss is kept instead.
    assert_eq!(
        best_kept(&found, "lightning", "val_loss"),
        ["lightning/checkpoints/epoch=4-step=30.ckpt"]
    );
}

#[tokio::test]
async fn a_dry_run_plan_changes_no_byte_of_the_tree() {
    let tree = copy_runs(Duration::from_secs(3 * DAY as u64));
    let before = trainctl_testkit::tree_digest(tree.path());
    let found = checkpoint::discover(&Location::Local(tree.path().to_path_buf()), None, &opts())
        .await
        .unwrap();
    let policy = Policy {
        keep_last_n: Some(1),
        delete_abandoned: true,
        ..Default::default()
    };
    let plans = checkpoint::plan_all(&found.runs, &policy, opts().now).unwrap();
    assert!(plans.iter().map(|p| p.deletions().count()).sum::<usize>() > 5);
    assert_eq!(trainctl_testkit::tree_digest(tree.path()), before);
}

async fn upload_tree(conn: &Connection, bucket: &str, prefix: &str, root: &Path) {
    for e in walkdir::WalkDir::new(root).follow_links(true).min_depth(1) {
        let e = e.unwrap();
        if e.file_type().is_dir() {
            continue;
        }
        let key = format!(
            "{prefix}{}",
            e.path().strip_prefix(root).unwrap().to_str().unwrap()
        );
        let body = std::fs::read(e.path()).unwrap();
        conn.client
            .put_object()
            .bucket(bucket)
            .key(&key)
            .body(ByteStream::from(body))
            .send()
            .await
            .unwrap_or_else(|err| panic!("put {key}: {err:?}"));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_copies_of_the_framework_runs_give_the_same_answers_as_local() {
    let tree = copy_runs(Duration::from_secs(3 * DAY as u64));
    let mut servers = vec![trainctl_testkit::shared_moto()];
    servers.extend(trainctl_testkit::shared_garage_or_skip());
    for server in servers {
        let conn = common::connection_as(server, server.kind().name());
        let bucket = server.new_bucket("ckfw");
        upload_tree(&conn, &bucket, "runs/", tree.path()).await;
        let loc = Location::S3(S3Url::parse(&format!("s3://{bucket}/runs/")).unwrap());
        // S3 dates objects at upload: look from three days on, as the local copy is dated.
        let later = DetectOptions {
            now: checkpoint::detect::now_secs() + 3 * DAY,
            ..opts()
        };
        let found = checkpoint::discover(&loc, Some(&conn), &later)
            .await
            .unwrap();
        let found: Vec<Checkpoint> = found.runs.into_iter().flat_map(|r| r.checkpoints).collect();
        let name = format!("{:?}", server.kind());
        assert_matches_expected(&found, &name);
        assert_best_as_the_frameworks_say(&found, &name);
        assert_runs_view(&loc, Some(&conn), later.now, &name).await;
    }
}
