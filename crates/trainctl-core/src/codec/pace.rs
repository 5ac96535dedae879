//! Keeping `--compress auto` as fast as the link: per block, the encoder compresses at the
//! chosen level ("full") or stores the block at zstd's fastest level ("fast": no match search
//! and no entropy stage, about memory speed, about raw size) — decided by measurement.
//!
//! A pipelined upload takes as long as the slower of its two halves: the encoder (original bytes
//! per second) and the link (stored bytes per second). Compressing pays only while the link is
//! the slower one. So the encoder measures itself (each block's time at each setting and what it
//! wrote) and the sender measures the link (stored bytes per second of time with a part in
//! flight); from those, [`Pace`] picks the share of blocks stored fast that balances the two
//! halves (`best_fast_share`): none when the link is slower than the compressor, every block
//! when even raw bytes leave faster than the compressor produces them, a mix in between. The
//! container allows it: every block's frames decode whatever level wrote them (plain zstd: one
//! frame whose later jobs use the new level).
//!
//! Explicit `--compress zstd:N` is [`Pace::fixed`]: every block at the level asked for.

use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// zstd's fastest level: long accelerated match skips and raw literals, so incompressible or
/// entropy-only data (the exponent plane of weights) goes through at about memory speed.
pub fn fast_level() -> i32 {
    *zstd::compression_level_range().start()
}

/// Bytes, output and seconds of the blocks encoded at one setting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Tally {
    pub blocks: u64,
    /// Original bytes.
    pub bytes: u64,
    /// Bytes written for them.
    pub stored: u64,
    /// Encoder time they took, divided by the blocks encoded at once.
    pub seconds: f64,
}

impl Tally {
    fn add(&mut self, bytes: u64, stored: u64, seconds: f64) {
        self.blocks += 1;
        self.bytes += bytes;
        self.stored += stored;
        self.seconds += seconds;
    }

    /// Original bytes per second, once measured.
    pub fn rate(&self) -> Option<f64> {
        (self.bytes > 0 && self.seconds > 0.0).then(|| self.bytes as f64 / self.seconds)
    }

    /// Stored / original.
    pub fn ratio(&self) -> Option<f64> {
        (self.bytes > 0).then(|| self.stored as f64 / self.bytes as f64)
    }
}

/// What the link carried — stored bytes, and the seconds during which at least one part was
/// in flight — and what it could carry: `capacity`, stored bytes per second, estimated by the
/// sender from its recent parts (each part's own rate times the parts it may send at once).
/// Why not bytes over busy time: while the compressor is the slower half, the link only ever
/// carries what it is fed, and that rate would always say "the link is no faster".
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Link {
    pub bytes: u64,
    pub seconds: f64,
    pub capacity: f64,
}

impl Link {
    /// The capacity estimate, else the rate while busy, once measured.
    pub fn rate(&self) -> Option<f64> {
        if self.capacity > 0.0 {
            return Some(self.capacity);
        }
        (self.bytes > 0 && self.seconds > 0.0).then(|| self.bytes as f64 / self.seconds)
    }
}

/// The pacing of one file's encoder (shared by the encoder thread and the sender).
#[derive(Debug)]
pub struct Pace {
    adaptive: bool,
    state: Mutex<State>,
    /// Nanoseconds the encoder's output waited for the link (the part queue was full).
    waited_ns: AtomicU64,
}

#[derive(Debug, Default)]
struct State {
    full: Tally,
    fast: Tally,
    link: Link,
    /// The link as measured by earlier files of the job (used until this file measures its own).
    link_before: Link,
    /// Share of blocks to store fast, from the latest measurements.
    share: f64,
    /// Blocks decided so far, and how many of them fast.
    decided: u64,
    decided_fast: u64,
}

impl Pace {
    /// Every block at the level asked for (explicit `--compress zstd:N`, staged copies).
    pub fn fixed() -> Pace {
        Pace { adaptive: false, state: Mutex::default(), waited_ns: AtomicU64::new(0) }
    }

    /// Blocks stored fast as measurements say (`--compress auto`). `link_before`: what earlier
    /// files of the job measured of the link; `share`: the share of fast blocks they ended
    /// with (the starting point).
    pub fn adaptive(link_before: Link, share: f64) -> Pace {
        Pace { adaptive: true, state: Mutex::new(State { link_before, share: share.clamp(0.0, 1.0), ..State::default() }), waited_ns: AtomicU64::new(0) }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the next block is stored fast: the decided blocks follow the current share
    /// (error diffusion: fast whenever fewer than `share` of the blocks so far were).
    pub fn next_fast(&self) -> bool {
        if !self.adaptive {
            return false;
        }
        let mut s = self.state();
        s.decided += 1;
        let fast = (s.decided_fast as f64) < s.share * s.decided as f64 - 1e-9;
        s.decided_fast += u64::from(fast);
        fast
    }

    /// A block was encoded: `bytes` original bytes into `stored` in `seconds` of encoder time.
    pub fn record_block(&self, fast: bool, bytes: u64, stored: u64, seconds: f64) {
        let mut s = self.state();
        if fast { s.fast.add(bytes, stored, seconds) } else { s.full.add(bytes, stored, seconds) }
        s.update();
    }

    /// The link carried `bytes` (stored bytes) in total, in `seconds` with parts in flight, and
    /// could carry `capacity` bytes per second (0: not estimated).
    pub fn record_link(&self, bytes: u64, seconds: f64, capacity: f64) {
        let mut s = self.state();
        s.link = Link { bytes, seconds, capacity };
        s.update();
    }

    /// The encoder's output waited `seconds` for the link (a full queue of parts).
    pub fn add_waited(&self, seconds: f64) {
        self.waited_ns.fetch_add((seconds * 1e9) as u64, Ordering::Relaxed);
    }

    /// Seconds the encoder's output waited for the link so far.
    pub fn waited(&self) -> f64 {
        self.waited_ns.load(Ordering::Relaxed) as f64 / 1e9
    }

    /// What this file measured and chose.
    pub fn report(&self) -> PaceReport {
        let s = self.state();
        let link = s.link_now().and_then(|l| l.rate());
        let compressor = s.full.rate();
        let reason = match (s.fast.blocks.max(s.decided_fast), compressor, link) {
            _ if !self.adaptive => "the level asked for (--compress zstd:N)".to_string(),
            (0, Some(c), Some(l)) => format!("the link ({}/s) was slower than the compressor ({}/s): every block compressed", shown_rate(l), shown_rate(c)),
            (0, _, _) => "every block compressed (nothing measured showed the compressor slower than the link)".to_string(),
            (_, Some(c), Some(l)) => format!(
                "the compressor ({}/s of original bytes) was slower than the link ({}/s): blocks stored fast to keep up",
                shown_rate(c),
                shown_rate(l)
            ),
            (_, None, Some(l)) => format!("the link ({}/s) measured on earlier files was faster than compressing: blocks stored fast", shown_rate(l)),
            (_, _, None) => "blocks stored fast".to_string(),
        };
        PaceReport {
            adaptive: self.adaptive,
            blocks: s.full.blocks + s.fast.blocks,
            fast_blocks: s.fast.blocks,
            compressor_bytes_per_sec: compressor.map(|c| c as u64),
            link_bytes_per_sec: link.map(|l| l as u64),
            full: s.full,
            fast: s.fast,
            link: s.link,
            share: s.share,
            waited_for_link_secs: self.waited(),
            reason,
        }
    }
}

impl State {
    /// This file's link measurement, or the job's earlier one until it has its own.
    fn link_now(&self) -> Option<Link> {
        [self.link, self.link_before].into_iter().find(|l| l.rate().is_some())
    }

    fn update(&mut self) {
        let (Some(link), Some(full_rate), Some(ratio)) = (self.link_now().and_then(|l| l.rate()), self.full.rate(), self.full.ratio()) else { return };
        let fast = (self.fast.rate(), self.fast.ratio().unwrap_or(1.0));
        self.share = best_fast_share(full_rate, ratio, fast, link);
    }
}

/// The share `p` of blocks stored fast for which the encoder and the link take equally long
/// (the pipelined upload is then as fast as it can be): per original byte the encoder takes
/// `(1-p)/full_rate + p/fast_rate` and the link `((1-p)·ratio + p·fast_ratio)/link`. 0 when the
/// link is the slower half even with every block compressed, 1 when the encoder is even with
/// every block stored fast. `fast.0`: the fast setting's rate once measured (until then taken as
/// free).
pub fn best_fast_share(full_rate: f64, ratio: f64, fast: (Option<f64>, f64), link: f64) -> f64 {
    let inv_fast = fast.0.map_or(0.0, |r| 1.0 / r);
    let (enc0, send0) = (1.0 / full_rate, ratio / link);
    if enc0 <= send0 {
        return 0.0;
    }
    let (enc1, send1) = (inv_fast, fast.1 / link);
    if enc1 >= send1 {
        return 1.0;
    }
    ((enc0 - send0) / ((enc0 - send0) + (send1 - enc1))).clamp(0.0, 1.0)
}

/// What one file's encoder measured and chose (in the job's outcome and at `-v`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PaceReport {
    /// Whether blocks could be stored fast (`auto`) or all were at the level asked for.
    pub adaptive: bool,
    pub blocks: u64,
    /// Blocks stored at the fast level.
    pub fast_blocks: u64,
    /// Compressor rate at the chosen level (original bytes per second), as measured.
    pub compressor_bytes_per_sec: Option<u64>,
    /// Link rate (stored bytes per second with parts in flight), as measured.
    pub link_bytes_per_sec: Option<u64>,
    pub full: Tally,
    pub fast: Tally,
    pub link: Link,
    /// The share of fast blocks the measurements last asked for.
    pub share: f64,
    /// Seconds the encoder waited for the link (its output queue full).
    pub waited_for_link_secs: f64,
    /// Why, in words.
    pub reason: String,
}

/// A rate as the rest of trainctl writes sizes (`units::human_bytes`), per second.
fn shown_rate(bytes_per_sec: f64) -> String {
    crate::units::human_bytes(bytes_per_sec as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slow_link_keeps_every_block_compressed() {
        // Compressor 100 MB/s, 0.7 of the size, link 50 MB/s: the link is the slower half.
        assert_eq!(best_fast_share(100e6, 0.7, (None, 1.0), 50e6), 0.0);
        assert_eq!(best_fast_share(100e6, 0.7, (None, 1.0), 65e6), 0.0);
    }

    #[test]
    fn a_fast_link_stores_the_share_that_balances_encoder_and_link() {
        // Compressor 110 MB/s, ratio 0.68, link 200 MB/s, fast blocks free and raw.
        let p = best_fast_share(110e6, 0.68, (None, 1.0), 200e6);
        let enc = (1.0 - p) / 110e6;
        let send = ((1.0 - p) * 0.68 + p) / 200e6;
        assert!((enc - send).abs() < 1e-12, "{p}");
        assert!(p > 0.4 && p < 0.7, "{p}");
        // Faster than both plain (1/200e6) and all-compressed (1/110e6) per byte.
        assert!(enc < 1.0 / 200e6);
    }

    #[test]
    fn when_even_fast_blocks_cannot_keep_up_every_block_is_fast() {
        assert_eq!(best_fast_share(100e6, 0.7, (Some(150e6), 1.0), 1e9), 1.0);
    }

    #[test]
    fn blocks_follow_the_share_and_fixed_never_goes_fast() {
        let pace = Pace::adaptive(Link::default(), 0.5);
        let fast = (0..10).filter(|_| pace.next_fast()).count();
        assert_eq!(fast, 5);
        let fixed = Pace::fixed();
        assert!((0..10).all(|_| !fixed.next_fast()));
        fixed.record_block(false, 10, 5, 1.0);
        fixed.record_link(5, 0.001, 0.0);
        assert!(!fixed.next_fast());
    }

    #[test]
    fn measurements_move_the_share() {
        let pace = Pace::adaptive(Link::default(), 0.0);
        assert!(!pace.next_fast());
        // 4 MiB in 0.4 s (10 MB/s), written as 2.8 MiB; the link took 2.8 MiB in 0.01 s.
        pace.record_block(false, 4 << 20, 2_936_012, 0.4);
        pace.record_link(2_936_012, 0.01, 0.0);
        let r = pace.report();
        assert!(r.share > 0.9, "{r:?}");
        assert!((0..10).filter(|_| pace.next_fast()).count() >= 8);
        assert!(pace.report().reason.contains("slower than the link"), "{}", pace.report().reason);
    }
}
