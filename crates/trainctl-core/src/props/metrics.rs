//! Metric parsers (`runs/metrics.rs`): any bytes under any name parse (or are one clear error
//! for an invalid trainer_state.json), chunked feeding equals whole feeding, and sparklines of
//! any numbers are at most `width` characters.

use super::{any_bytes, config, hostile_text};
use crate::runs::metrics::{detect_format, parse_line, parse_metrics, sparkline, LineParser};
use proptest::prelude::*;

fn name() -> impl Strategy<Value = String> {
    prop_oneof![Just("trainer_state.json"), Just("metrics.csv"), Just("train.log"), Just("x.jsonl"), Just("")].prop_map(str::to_string)
}

/// Log-like text: metric lines of every supported shape with hostile values, and noise.
fn log_text() -> impl Strategy<Value = String> {
    let line = prop_oneof![
        (hostile_text(3), any::<f64>(), any::<u64>()).prop_map(|(k, v, s)| format!("step={s} {k}={v}")),
        (any::<u64>(), any::<u64>(), hostile_text(3)).prop_map(|(n, t, k)| format!(" 10%|█ | {n}/{t} [00:01<00:09, 1.0it/s, {k}=0.5]")),
        (hostile_text(3), any::<f64>()).prop_map(|(k, v)| format!("{{'{k}': {v}, 'epoch': 0.1}}")),
        (any::<u64>(), hostile_text(3)).prop_map(|(s, k)| format!("iter {s}: {k} 2.5, time 12ms")),
        hostile_text(8),
    ];
    proptest::collection::vec(line, 0..12).prop_map(|l| l.join("\n"))
}

proptest! {
    #![proptest_config(config(1500))]

    #[test]
    fn any_bytes_under_any_name_parse_or_fail_cleanly(name in name(), bytes in prop_oneof![any_bytes(300), log_text().prop_map(String::into_bytes)]) {
        match parse_metrics(&name, &bytes) {
            Ok(m) => {
                for s in m.series.values() {
                    prop_assert_eq!(s.steps.len(), s.values.len());
                }
            }
            Err(e) => prop_assert_eq!(e.code(), "usage"),
        }
    }

    #[test]
    fn the_4096th_byte_may_fall_anywhere_in_a_character(pad in 4000usize..4100, tail in hostile_text(6)) {
        let text = format!("{{\"a\": \"{}é€😀{tail}\"}}", "x".repeat(pad));
        let _ = detect_format("x.json", &text);
    }

    #[test]
    fn chunked_feeding_reads_what_whole_feeding_reads(text in log_text(), cut in any::<prop::sample::Index>()) {
        let mut whole = LineParser::default();
        whole.feed(&text);
        let mut chunked = LineParser::default();
        let at = (0..=text.len()).filter(|i| text.is_char_boundary(*i)).nth(cut.index(text.chars().count() + 1)).unwrap_or(0);
        chunked.feed(&text[..at]);
        chunked.feed(&text[at..]);
        let (a, b) = (whole.finish(), chunked.finish());
        prop_assert_eq!(a.records, b.records);
        prop_assert_eq!(a.series.keys().collect::<Vec<_>>(), b.series.keys().collect::<Vec<_>>());
    }

    #[test]
    fn single_lines_and_sparklines_never_panic(line in hostile_text(12), values in proptest::collection::vec(any::<f64>(), 0..50), width in 0usize..60) {
        let _ = parse_line(&line);
        prop_assert!(sparkline(&values, width).chars().count() <= width);
    }
}
