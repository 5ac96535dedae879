//! Storage of content references (issue 14, `--dedup=refs`): the same run as `dedup_bench` —
//! checkpoints sharing a fraction of their bytes (an identical tokenizer and frozen component
//! in each, the rest distinct random weights) — uploaded plain, with `--dedup` and with
//! `--dedup=refs` to Garage, each to a fresh prefix. Reports what each stores (the listing's
//! bytes and objects under the prefix), what it sent (the summary's `bytes`), and checks that a
//! download of the refs upload is byte-identical. Bytes only: no time is reported (storage does
//! not depend on the build or the machine's load).
//!
//! Usage: `refs_bench [--ckpts N] [--mib M] [--shared F] [--trainctl PATH]` (defaults 4 × 64 MiB,
//! 0.3 shared). Prints a markdown table.

use std::path::{Path, PathBuf};
use std::process::Command;

fn trainctl_json(trainctl: &Path, env: &[(String, String)], cache: &Path, args: &[&str], paths: &[&Path]) -> serde_json::Value {
    let mut c = Command::new(trainctl);
    c.envs(env.iter().cloned()).env("XDG_CACHE_HOME", cache).arg("--json").args(args).args(paths);
    let out = c.output().expect("trainctl");
    assert!(out.status.success(), "{args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .rfind(|v| v["event"] == "summary")
        .expect("summary line")
}

fn same_tree(a: &Path, b: &Path) -> bool {
    let files = |root: &Path| {
        let mut v = Vec::new();
        let mut stack = vec![root.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap().flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    v.push((p.strip_prefix(root).unwrap().to_path_buf(), std::fs::read(&p).unwrap()));
                }
            }
        }
        v.sort();
        v
    };
    files(a) == files(b)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let opt = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let ckpts: usize = opt("--ckpts").and_then(|v| v.parse().ok()).unwrap_or(4);
    let mib: usize = opt("--mib").and_then(|v| v.parse().ok()).unwrap_or(64);
    let shared: f64 = opt("--shared").and_then(|v| v.parse().ok()).unwrap_or(0.3);
    let exe = std::env::current_exe().unwrap();
    let trainctl = opt("--trainctl").map(PathBuf::from).unwrap_or_else(|| exe.with_file_name("trainctl"));

    let server = trainctl_testkit::start_garage().expect("garage");
    let bucket = server.new_bucket("refs-bench");
    let work = tempfile::Builder::new().prefix("trainctl-refs-bench").tempdir().unwrap();
    let run = work.path().join("run");
    let total = trainctl_bench::make_shared_run(&run, ckpts, mib, shared);
    let cache = work.path().join("cache");
    let env = server.env_with_endpoint(&server.endpoint_url());
    let mib_of = |b: u64| b as f64 / (1u64 << 20) as f64;
    println!("run: {ckpts} checkpoints × {mib} MiB, {:.0}% of each checkpoint's bytes shared; {:.1} MiB of files", shared * 100.0, mib_of(total));
    println!();
    println!("| upload | MiB stored | stored / files | objects | MiB sent | copied | references |");
    println!("|---|---|---|---|---|---|---|");
    for (name, flag) in [("plain", None), ("--dedup", Some("--dedup")), ("--dedup=refs", Some("--dedup=refs"))] {
        let prefix = format!("{}/", name.trim_start_matches('-').replace('=', "-"));
        let url = format!("s3://{bucket}/{prefix}");
        let local = run.to_string_lossy().to_string();
        let mut a = vec!["s3", "upload", "-r", local.as_str(), url.as_str()];
        a.extend(flag);
        let s = trainctl_json(&trainctl, &env, &cache, &a, &[]);
        let objects = server.list_objects(&bucket, &prefix);
        let stored: u64 = objects.iter().map(|(_, s)| s).sum();
        println!(
            "| {name} | {:.1} | {:.2} | {} | {:.1} | {} | {} |",
            mib_of(stored),
            stored as f64 / total as f64,
            objects.len(),
            mib_of(s["bytes"].as_u64().unwrap_or(0)),
            s["copied"].as_u64().unwrap_or(0),
            s["referenced"].as_u64().unwrap_or(0)
        );
        if flag == Some("--dedup=refs") {
            let back = work.path().join("back");
            trainctl_json(&trainctl, &env, &cache, &["s3", "download", "-r", &url], &[&back]);
            assert!(same_tree(&run, &back), "the refs upload did not come back byte-identical");
            eprintln!("refs upload downloaded back byte-identical");
        }
    }
}
