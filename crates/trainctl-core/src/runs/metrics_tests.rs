//! Every parser against the real-format fixtures in `tests/fixtures/metrics/`.

use super::*;

fn fixture(name: &str) -> (String, Vec<u8>) {
    let path = format!("{}/../../tests/fixtures/metrics/{name}", env!("CARGO_MANIFEST_DIR"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    (name.to_string(), bytes)
}

fn parsed(name: &str) -> ParsedMetrics {
    let (n, b) = fixture(name);
    parse_metrics(&n, &b).unwrap()
}

#[test]
fn trainer_state_log_history_becomes_series_by_step() {
    let m = parsed("trainer_state.json");
    assert_eq!(m.format, MetricsFormat::TrainerState);
    assert_eq!(m.series["loss"].values.len(), 100);
    assert_eq!(m.series["loss"].steps[0], 10.0);
    assert_eq!(m.series["eval_loss"].steps, vec![250.0, 500.0, 750.0, 1000.0]);
    assert_eq!(m.series["train_runtime"].values, vec![1234.5678]);
    assert_eq!(m.total_steps, Some(1000));
    assert_eq!(m.last_step, Some(1000));
    assert_eq!(m.skipped, 0);
}

#[test]
fn lightning_csv_reads_sparse_train_and_val_rows() {
    let m = parsed("metrics.csv");
    assert_eq!(m.format, MetricsFormat::Csv);
    assert_eq!(m.series["train_loss_step"].values.len(), 12);
    assert_eq!(m.series["val_loss"].values.len(), 3);
    assert_eq!(m.series["val_loss"].steps, vec![199.0, 399.0, 599.0]);
    assert!(!m.series.contains_key("step"));
    assert_eq!(m.last_step, Some(599));
    assert_eq!(m.skipped, 0);
}

#[test]
fn csv_rows_with_the_wrong_cell_count_are_skipped_and_counted() {
    let m = parse_csv("epoch,step,loss\n0,1,0.5\n0,2\n0,3,0.4\n");
    assert_eq!(m.series["loss"].values, vec![0.5, 0.4]);
    assert_eq!(m.skipped, 1);
}

#[test]
fn json_lines_skip_prose_and_broken_lines() {
    let m = parsed("train.jsonl");
    assert_eq!(m.format, MetricsFormat::Lines);
    assert_eq!(m.series["loss"].values.len(), 10);
    assert_eq!(m.series["loss"].steps.last(), Some(&1000.0));
    assert_eq!(m.skipped, 2, "the truncated JSON line and the prose line");
}

#[test]
fn hf_console_dict_reprs_take_their_step_from_the_tqdm_bar() {
    let m = parsed("hf_console.log");
    let loss = &m.series["loss"];
    assert_eq!(loss.steps, vec![20.0, 40.0, 60.0, 80.0, 100.0]);
    assert!(m.series.contains_key("train_runtime"));
    assert!(!m.series.contains_key("examples"), "`Num examples = 4,000` is not a metric");
    assert!(!m.series.contains_key("trainer.py"), "`trainer.py:2134` is a source location");
    assert_eq!(m.total_steps, Some(100));
    assert_eq!(m.skipped, 2, "the two INFO lines");
}

#[test]
fn key_value_and_nanogpt_lines_are_read() {
    let m = parsed("kv.log");
    assert_eq!(m.series["train_loss"].values.len(), 6);
    assert_eq!(m.series["val_loss"].steps.last(), Some(&100.0));
    assert_eq!(m.series["loss"].values.len(), 6);
    assert_eq!(m.series["lr"].values[0], 6e-4);
    assert_eq!(m.series["mfu"].values[0], 31.2);
    assert!(!m.series.contains_key("iter"));
    assert_eq!(m.skipped, 3);
}

#[test]
fn lightning_progress_bar_postfixes_are_metrics_but_v_num_is_not() {
    let m = parsed("lightning_tqdm.log");
    assert_eq!(m.series["train_loss_step"].values.len(), 7);
    assert_eq!(m.series["val_loss"].values, vec![0.901]);
    assert!(!m.series.contains_key("v_num"));
    assert_eq!(m.total_steps, Some(50));
}

#[test]
fn tqdm_postfix_from_the_brief_parses() {
    let r = parse_line("100%|███| 500/500 [00:10<00:00, loss=0.123, lr=1e-4]").unwrap();
    assert_eq!(r.step, Some(500.0));
    assert_eq!(r.total, Some(500));
    assert_eq!(r.values, vec![("loss".to_string(), 0.123), ("lr".to_string(), 1e-4)]);
}

#[test]
fn line_parser_waits_for_the_end_of_a_split_line() {
    let mut p = LineParser::default();
    p.feed("step=1 loss=0.");
    assert!(p.snapshot().series.is_empty());
    p.feed("5\nstep=2 loss=0.4\n");
    assert_eq!(p.snapshot().series["loss"].values, vec![0.5, 0.4]);
}

#[test]
fn python_nan_in_a_dict_repr_does_not_drop_the_line() {
    let r = parse_line("{'loss': nan, 'grad_norm': 2.5, 'epoch': 0.1}").unwrap();
    assert_eq!(r.values.iter().find(|(k, _)| k == "grad_norm").map(|p| p.1), Some(2.5));
}

#[test]
fn sparkline_spans_the_blocks_and_respects_the_width() {
    let s = sparkline(&(0..100).map(|i| i as f64).collect::<Vec<_>>(), 20);
    assert_eq!(s.chars().count(), 20);
    assert!(s.starts_with('▁') && s.ends_with('█'));
    assert_eq!(sparkline(&[1.0, 1.0], 10), "▄▄");
    assert_eq!(sparkline(&[], 10), "");
}

#[test]
fn summary_ignores_nan_for_min_and_max() {
    let s = Series { name: "loss".into(), steps: vec![1.0, 2.0, 3.0], values: vec![2.0, f64::NAN, 1.0] };
    let sum = s.summary().unwrap();
    assert_eq!((sum.min, sum.max, sum.last, sum.count), (1.0, 2.0, 1.0, 3));
}

#[test]
fn a_multibyte_character_across_byte_4096_does_not_panic() {
    // `head[..4096]` panicked when byte 4096 fell inside a character.
    for pad in 4090..4097 {
        let text = format!("{{\"note\": \"{}é€😀\", \"log_history\": []}}", "x".repeat(pad));
        assert_eq!(detect_format("state.json", &text), MetricsFormat::Lines, "log_history beyond 4096 bytes is not looked for");
        let short = format!("{{\"log_history\": [], \"n\": \"{}é\"}}", "x".repeat(pad));
        assert_eq!(detect_format("state.json", &short), MetricsFormat::TrainerState);
    }
}
