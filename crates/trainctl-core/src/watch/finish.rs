//! When is a run finished? Three kinds of evidence, any of which is enough:
//! a final marker file (`_SUCCESS`, `DONE`, …) outside any checkpoint directory; an HF
//! `trainer_state.json` whose `global_step` reached its `max_steps`; or the user's own rule (a
//! regex on keys, `--done-pattern`).

use crate::checkpoint::Checkpoint;
use regex::Regex;

/// Marker names that mean "this run is done" when found in a run directory.
pub const DEFAULT_MARKERS: &[&str] = &["_SUCCESS", "DONE", "_DONE", "COMPLETE", "FINISHED", "training_done"];

/// The rules a watch judges "finished" by.
#[derive(Debug, Clone)]
pub struct FinishRules {
    /// File names that mark a finished run (outside checkpoint directories).
    pub markers: Vec<String>,
    /// A key (relative to the watch) matching this means the run in its directory finished.
    pub pattern: Option<Regex>,
}

impl Default for FinishRules {
    fn default() -> Self {
        FinishRules { markers: DEFAULT_MARKERS.iter().map(|s| s.to_string()).collect(), pattern: None }
    }
}

/// One finish found: the run (directory relative to the watch, no trailing `/`), why, at which step.
#[derive(Debug, Clone, PartialEq)]
pub struct Finish {
    pub run: String,
    pub reason: String,
    pub step: Option<u64>,
}

/// Every finish the evidence shows. `keys` are relative to the watch; `fetch` returns the
/// contents of small files (the `trainer_state.json`s detection fetched).
pub fn finishes<'a>(keys: impl Iterator<Item = &'a str>, checkpoints: &[Checkpoint], fetch: &dyn Fn(&str) -> Option<Vec<u8>>, rules: &FinishRules) -> Vec<Finish> {
    let inside_checkpoint = |k: &str| checkpoints.iter().any(|c| c.is_dir() && k.starts_with(&c.id));
    let mut out = Vec::new();
    for key in keys {
        let (dir, name) = split(key);
        if rules.markers.iter().any(|m| m == name) && !inside_checkpoint(key) {
            out.push(Finish { run: dir.to_string(), reason: format!("final marker {key}"), step: None });
        } else if rules.pattern.as_ref().is_some_and(|re| re.is_match(key)) {
            out.push(Finish { run: dir.to_string(), reason: format!("{key} matches the done pattern"), step: None });
        } else if name == "trainer_state.json" {
            if let Some((step, max)) = fetch(key).and_then(|b| at_max_steps(&b)) {
                let run = if inside_checkpoint(key) { split(dir).0.to_string() } else { dir.to_string() };
                out.push(Finish { run, reason: format!("{key}: global_step {step} reached max_steps {max}"), step: Some(step) });
            }
        }
    }
    out
}

/// `(global_step, max_steps)` when a trainer_state.json says training reached its end.
fn at_max_steps(bytes: &[u8]) -> Option<(u64, u64)> {
    let v: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    let step = v.get("global_step")?.as_u64()?;
    let max = v.get("max_steps")?.as_u64()?;
    (max > 0 && step >= max).then_some((step, max))
}

/// `a/b/c` → (`a/b`, `c`); `c` → (``, `c`).
fn split(path: &str) -> (&str, &str) {
    let p = path.trim_end_matches('/');
    match p.rfind('/') {
        Some(i) => (&p[..i], &p[i + 1..]),
        None => ("", p),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none(_: &str) -> Option<Vec<u8>> {
        None
    }

    #[test]
    fn a_marker_in_a_run_directory_finishes_that_run() {
        let f = finishes(["run1/_SUCCESS", "run1/train.log"].into_iter(), &[], &none, &FinishRules::default());
        assert_eq!(f, vec![Finish { run: "run1".into(), reason: "final marker run1/_SUCCESS".into(), step: None }]);
    }

    #[test]
    fn trainer_state_at_max_steps_finishes_the_run_of_the_checkpoint() {
        let state = br#"{"global_step": 300, "max_steps": 300}"#.to_vec();
        let fetch = move |k: &str| (k == "r/checkpoint-300/trainer_state.json").then(|| state.clone());
        let f = finishes(["r/checkpoint-300/trainer_state.json"].into_iter(), &[], &fetch, &FinishRules::default());
        assert_eq!(f[0].step, Some(300));
        let early = br#"{"global_step": 200, "max_steps": 300}"#.to_vec();
        assert!(finishes(["t/trainer_state.json"].into_iter(), &[], &move |_: &str| Some(early.clone()), &FinishRules::default()).is_empty());
    }

    #[test]
    fn the_done_pattern_is_a_rule_of_its_own() {
        let rules = FinishRules { pattern: Some(Regex::new(r"final/model\.safetensors$").unwrap()), ..Default::default() };
        let f = finishes(["exp/final/model.safetensors"].into_iter(), &[], &none, &rules);
        assert_eq!(f[0].run, "exp/final");
    }
}
