//! One watch: the memory of what was seen under a prefix and the poll that turns the difference
//! into events.
//!
//! How a poll lists: in `start_after` mode (one run whose checkpoints are named with zero-padded
//! steps, so new ones sort after old ones) a poll lists only the keys after a watermark (the
//! newest complete checkpoint, or the start of the one being written): an idle poll is ONE LIST
//! request whatever the prefix size. Otherwise (`diff` mode) a poll lists the whole prefix and
//! diffs it against `key → (size, etag)`. A suspected stall in `start_after` mode is confirmed
//! by one full listing first (a final marker may sort before the watermark).

use super::finish::{finishes, FinishRules};
use super::listing::{list_after, Seen};
use super::runs::RunState;
use crate::checkpoint::detect::{self, DetectOptions};
use crate::checkpoint::{Checkpoint, FileEntry};
use crate::error::{Error, Result};
use crate::event::{Event, Sink};
use crate::s3::errors::SdkResultExt;
use crate::s3::{Connection, S3Url};
use regex::Regex;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

/// What a watch looks for and how often.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    /// Time between polls.
    pub interval: Duration,
    /// A run is stalled after this many times its observed checkpoint cadence without one.
    pub stall_after: f64,
    pub finish: FinishRules,
    /// Report what is already there at the first poll (checkpoints, finished runs) instead of
    /// taking it as the baseline (`--once`).
    pub report_existing: bool,
    /// Longest wait between retries after failures.
    pub max_backoff: Duration,
    /// In `start_after` mode, list the whole prefix every N polls anyway (0: never).
    pub resync_every: u32,
    /// A user `--pattern` for checkpoints (else the built-in layouts).
    pub pattern: Option<Regex>,
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions {
            interval: Duration::from_secs(30),
            stall_after: 3.0,
            finish: FinishRules::default(),
            report_existing: false,
            max_backoff: Duration::from_secs(300),
            resync_every: 0,
            pattern: None,
        }
    }
}

/// How polls list (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollMode {
    Diff,
    StartAfter,
    /// Changes come from S3 Event Notifications on an SQS queue ([`super::sqs`]); listings
    /// only reconcile (at start, after errors, to confirm a stall).
    Events,
}

impl PollMode {
    pub fn name(self) -> &'static str {
        match self {
            PollMode::Diff => "diff",
            PollMode::StartAfter => "start_after",
            PollMode::Events => "events",
        }
    }
}

/// The state of one watch between polls.
pub struct Watcher {
    conn: Connection,
    bucket: String,
    prefix: String,
    label: String,
    opts: WatchOptions,
    objects: BTreeMap<String, Seen>,
    /// Small files detection reads (trainer_state.json…), by key, with the ETag they had.
    contents: HashMap<String, (Option<String>, Vec<u8>)>,
    /// Content references (`crate::refs`) read before: each is read again only when it
    /// changes, a broken one included.
    ref_cache: crate::refs::listing::RefCache,
    checkpoints: Vec<Checkpoint>,
    reported: HashSet<String>,
    finished: HashSet<String>,
    runs: BTreeMap<String, RunState>,
    mode: PollMode,
    started: bool,
    waiting: bool,
    polls: u64,
    last_poll: Option<Instant>,
    /// Fed by event notifications instead of polls (see [`Watcher::apply_changes`]).
    events: bool,
    /// Per key, the sequencer of the last event applied: an older event arriving late is
    /// ignored (notifications are unordered).
    sequencers: HashMap<String, String>,
    /// LIST requests sent so far (the benchmark and tests read it).
    pub list_requests: u64,
    /// ListMultipartUploads requests sent so far: one per detection that found a checkpoint
    /// newly complete by its marker, and one per poll while such a checkpoint is held back.
    pub upload_checks: u64,
    /// Checkpoints complete by their layout's evidence but held back because an upload into
    /// them is still in flight; re-checked every poll until reported.
    held: HashSet<String>,
    /// The store would not list uploads in flight: said once, then checkpoints are reported on
    /// their marker alone.
    uploads_unknown: bool,
}

impl Watcher {
    pub fn new(conn: Connection, url: &S3Url, opts: WatchOptions) -> Watcher {
        let prefix = if url.key.is_empty() { String::new() } else { url.dir_prefix() };
        Watcher {
            conn,
            bucket: url.bucket.clone(),
            label: format!("s3://{}/{}", url.bucket, prefix),
            prefix,
            opts,
            objects: BTreeMap::new(),
            contents: HashMap::new(),
            ref_cache: Default::default(),
            checkpoints: Vec::new(),
            reported: HashSet::new(),
            finished: HashSet::new(),
            runs: BTreeMap::new(),
            mode: PollMode::Diff,
            started: false,
            waiting: false,
            polls: 0,
            last_poll: None,
            events: false,
            sequencers: HashMap::new(),
            list_requests: 0,
            upload_checks: 0,
            held: HashSet::new(),
            uploads_unknown: false,
        }
    }

    /// A watcher fed by S3 Event Notifications ([`super::sqs`]): same detection, same events.
    pub fn for_events(conn: Connection, url: &S3Url, opts: WatchOptions) -> Watcher {
        let mut w = Watcher::new(conn, url, opts);
        w.events = true;
        w.mode = PollMode::Events;
        w
    }

    /// The watched bucket and prefix (`""` or ending in `/`).
    pub fn target(&self) -> (&str, &str) {
        (&self.bucket, &self.prefix)
    }

    /// One full listing folded in like a poll's (the first one is the baseline): what event
    /// mode does at start, after an error, and when a stall is suspected, so nothing is missed.
    pub async fn reconcile(&mut self, sink: &dyn Sink) -> Result<()> {
        match self.poll_once(sink, true).await {
            Err(Error::NoSuchBucket(b)) => {
                self.say_waiting(sink, format!("bucket `{b}` does not exist (yet); waiting for it"));
                self.started = true;
                Ok(())
            }
            r => r,
        }
    }

    /// Folds object changes announced by event notifications into memory and reports what they
    /// mean, exactly as a poll would: growth, checkpoints once complete, finished runs. Changes
    /// outside the watched bucket/prefix, and changes older (by sequencer) than one already
    /// applied to the same key, are ignored. Returns how many changes were applied.
    pub async fn apply_changes(&mut self, changes: &[super::events::Change], sink: &dyn Sink) -> Result<usize> {
        use super::events::{later, Change};
        let mut changed = Vec::new();
        let mut first: Option<String> = None;
        for c in changes {
            let Some(rel) = c.key().strip_prefix(self.prefix.as_str()) else { continue };
            if c.bucket() != self.bucket || rel.is_empty() {
                continue;
            }
            if let Some(seq) = c.sequencer() {
                if self.sequencers.get(rel).is_some_and(|last| !later(seq, last)) {
                    continue;
                }
                self.sequencers.insert(rel.to_string(), seq.to_string());
            }
            match c {
                Change::Created { size, etag, time, .. } => {
                    let seen = Seen { size: *size, etag: etag.clone(), mtime: *time };
                    let before = self.objects.get(rel);
                    if before.is_some_and(|b| b.size == seen.size && b.etag == seen.etag) {
                        continue;
                    }
                    changed.push((rel.to_string(), *size, size.saturating_sub(before.map_or(0, |b| b.size))));
                    self.objects.insert(rel.to_string(), seen);
                }
                Change::Removed { .. } => {
                    if self.objects.remove(rel).is_none() {
                        continue;
                    }
                }
            }
            if first.as_deref().is_none_or(|f| rel < f) {
                first = Some(rel.to_string());
            }
        }
        let Some(first) = first else { return Ok(0) };
        if !self.started {
            // Nothing to compare with yet: the reconciling listing will take it as the baseline.
            return Ok(changed.len());
        }
        self.waiting = self.objects.is_empty() && self.waiting;
        let seconds = self.last_poll.map(|t| t.elapsed().as_secs_f64()).unwrap_or(0.0);
        self.last_poll = Some(Instant::now());
        if !changed.is_empty() {
            self.report_growth(sink, &changed, seconds);
        }
        // Only the directory of the first changed key and what sorts after it can have changed.
        let scope = first[..first.rfind('/').map_or(0, |i| i + 1)].to_string();
        self.detect_and_report(sink, false, Some(&scope)).await?;
        Ok(changed.len())
    }

    /// The clock part of a watch: reports runs silent for too long. A suspected stall is first
    /// confirmed by a full listing (a final marker or a lost event may explain it).
    pub async fn check_stalls_confirmed(&mut self, sink: &dyn Sink, skip_listing: bool) -> Result<()> {
        let now = now_f64();
        let resolution = self.opts.interval.as_secs_f64();
        let suspect = self.runs.values().any(|r| r.would_stall(now, self.opts.stall_after, resolution));
        if suspect && self.mode != PollMode::Diff && !skip_listing {
            self.poll_once(sink, true).await?;
        }
        self.check_stalls(sink, now_f64());
        Ok(())
    }

    /// `s3://bucket/prefix/`, as events name the watch.
    pub fn label(&self) -> &str {
        &self.label
    }

    pub fn mode(&self) -> PollMode {
        self.mode
    }

    /// One poll: list, diff, detect, and send what changed. A missing bucket is "waiting", not
    /// an error; other failures are returned for the caller's retry loop.
    pub async fn poll(&mut self, sink: &dyn Sink) -> Result<()> {
        self.polls += 1;
        let resync_due = self.opts.resync_every > 0 && self.polls.is_multiple_of(self.opts.resync_every as u64);
        match self.poll_once(sink, resync_due).await {
            Err(Error::NoSuchBucket(b)) => {
                self.say_waiting(sink, format!("bucket `{b}` does not exist (yet); waiting for it"));
                self.started = true;
                return Ok(());
            }
            r => r?,
        }
        self.check_stalls_confirmed(sink, resync_due).await
    }

    async fn poll_once(&mut self, sink: &dyn Sink, full: bool) -> Result<()> {
        let baseline = !self.started;
        let after = if baseline || full || self.mode != PollMode::StartAfter { None } else { self.watermark() };
        let start_key = after.as_ref().map(|k| format!("{}{k}", self.prefix));
        let listing = list_after(&self.conn, &self.bucket, &self.prefix, start_key.as_deref(), &mut self.list_requests).await?;
        let seconds = self.last_poll.map(|t| t.elapsed().as_secs_f64()).unwrap_or(0.0);
        self.last_poll = Some(Instant::now());
        let changed = self.merge(listing, after.as_deref());
        self.started = true;
        if baseline {
            self.start(sink).await?;
            return Ok(());
        }
        if self.objects.is_empty() {
            self.say_waiting(sink, "nothing under the prefix yet; waiting for it".into());
        } else {
            self.waiting = false;
        }
        if changed.is_empty() {
            return self.recheck_held(sink).await;
        }
        self.report_growth(sink, &changed, seconds);
        // After a StartAfter listing only the watermark's directory and what follows can have
        // changed: re-detect that part, not the whole prefix (100k keys cost seconds).
        let scope = after.as_deref().map(|a| a[..a.rfind('/').map_or(0, |i| i + 1)].to_string());
        self.detect_and_report(sink, false, scope.as_deref()).await
    }

    /// The first successful poll: says what is there, takes it as the baseline.
    async fn start(&mut self, sink: &dyn Sink) -> Result<()> {
        self.detect_and_report(sink, true, None).await?;
        let bytes = self.objects.values().map(|s| s.size).sum();
        sink.send(Event::WatchStarted {
            watch: self.label.clone(),
            mode: self.mode.name().into(),
            objects: self.objects.len() as u64,
            bytes,
            checkpoints: self.checkpoints.iter().filter(|c| c.complete.is_complete()).count() as u64,
        });
        if self.objects.is_empty() {
            self.say_waiting(sink, "nothing under the prefix yet; waiting for it".into());
        }
        Ok(())
    }

    fn say_waiting(&mut self, sink: &dyn Sink, message: String) {
        if !self.waiting {
            self.waiting = true;
            sink.send(Event::WatchWaiting { watch: self.label.clone(), message });
        }
    }

    /// Folds a listing into memory; returns the keys that are new or changed, with their size
    /// and the bytes they added. With `after`, only keys after it were listed.
    fn merge(&mut self, listing: Vec<(String, Seen)>, after: Option<&str>) -> Vec<(String, u64, u64)> {
        let listed: HashSet<&str> = listing.iter().map(|(k, _)| k.as_str()).collect();
        let gone: Vec<String> = match after {
            Some(a) => self.objects.range::<str, _>((std::ops::Bound::Excluded(a), std::ops::Bound::Unbounded)).map(|(k, _)| k.clone()).filter(|k| !listed.contains(k.as_str())).collect(),
            None => self.objects.keys().filter(|k| !listed.contains(k.as_str())).cloned().collect(),
        };
        for k in gone {
            self.objects.remove(&k);
        }
        let mut changed = Vec::new();
        for (key, seen) in listing {
            let before = self.objects.get(&key);
            if before == Some(&seen) {
                continue;
            }
            // Same size and ETag is the same object (an event-fed entry dated by its event
            // time, a listing by LastModified): keep the listing's date, report nothing.
            if before.is_some_and(|b| b.size == seen.size && b.etag.is_some() && b.etag == seen.etag) {
                self.objects.insert(key, seen);
                continue;
            }
            let added = seen.size.saturating_sub(before.map_or(0, |b| b.size));
            changed.push((key.clone(), seen.size, added));
            self.objects.insert(key, seen);
        }
        changed
    }

    fn report_growth(&self, sink: &dyn Sink, changed: &[(String, u64, u64)], seconds: f64) {
        for (key, size, _) in changed {
            sink.send(Event::WatchObject { watch: self.label.clone(), key: key.clone(), size: *size });
        }
        let bytes_added: u64 = changed.iter().map(|c| c.2).sum();
        sink.send(Event::WatchGrowth {
            watch: self.label.clone(),
            objects_added: changed.len() as u64,
            bytes_added,
            objects_total: self.objects.len() as u64,
            bytes_total: self.objects.values().map(|s| s.size).sum(),
            seconds,
        });
    }

    /// Detects checkpoints over everything seen, reports the newly complete ones (exactly once)
    /// and finished runs. At the `baseline` (first poll) they are taken silently unless
    /// `report_existing`, and dated by their mtimes rather than by now.
    async fn detect_and_report(&mut self, sink: &dyn Sink, baseline: bool, from: Option<&str>) -> Result<()> {
        let silent = baseline && !self.opts.report_existing;
        let scoped: Box<dyn Iterator<Item = (&String, &Seen)>> = match from {
            Some(f) if !f.is_empty() => Box::new(self.objects.range::<str, _>((std::ops::Bound::Included(f), std::ops::Bound::Unbounded))),
            _ => Box::new(self.objects.iter()),
        };
        let entries: Vec<FileEntry> = scoped.map(|(k, s)| FileEntry { path: k.clone(), size: s.size, mtime: s.mtime }).collect();
        let entries = self.logical_files(entries, sink).await;
        self.fetch_contents(&detect::wanted_contents(&entries)).await;
        // Taken out for the detection (and put back below), so the in-flight check can borrow
        // the watcher mutably in between.
        let contents = std::mem::take(&mut self.contents);
        let fetch = |p: &str| contents.get(p).map(|(_, b)| b.clone());
        // Grace 0 and a `now` far ahead: the layout evidence alone decides. With the real clock a
        // server whose clock runs ahead of ours would date the newest checkpoint "in the future"
        // (still changing), and nothing would re-detect it once the prefix went quiet.
        let opts = DetectOptions { pattern: self.opts.pattern.clone(), grace: Duration::ZERO, now: i64::MAX / 2, abandoned_after: Duration::MAX };
        self.checkpoints = detect::detect(&entries, &opts, &fetch).into_iter().flat_map(|r| r.checkpoints).collect();
        let held = self.hold_in_flight(sink).await;
        let found = finishes(entries.iter().map(|e| e.path.as_str()), &self.checkpoints, &fetch, &self.opts.finish);
        self.contents = contents;
        held?;
        self.report_checkpoints(sink, baseline, silent);
        for f in found {
            if !self.finished.insert(f.run.clone()) {
                continue;
            }
            self.runs.entry(f.run.clone()).or_default();
            for (name, r) in self.runs.iter_mut() {
                if f.run.is_empty() || name == &f.run || name.starts_with(&format!("{}/", f.run)) {
                    r.finished = true;
                }
            }
            if !silent {
                sink.send(Event::WatchRunFinished { watch: self.label.clone(), run: f.run, reason: f.reason, step: f.step });
            }
        }
        self.mode = self.choose_mode();
        Ok(())
    }

    /// Reports the complete checkpoints not reported yet (exactly once each); see
    /// [`Watcher::detect_and_report`] for `baseline` and `silent`.
    fn report_checkpoints(&mut self, sink: &dyn Sink, baseline: bool, silent: bool) {
        let now = now_f64();
        for c in self.checkpoints.iter().filter(|c| c.complete.is_complete()) {
            if !self.reported.insert(c.id.clone()) {
                continue;
            }
            let run = self.runs.entry(c.run.clone()).or_default();
            let at = if baseline { c.last_modified.map_or(now, |t| t as f64) } else { now };
            let resumed = run.checkpoint(&c.id, at);
            if silent {
                continue;
            }
            sink.send(Event::WatchCheckpoint {
                watch: self.label.clone(),
                run: c.run.clone(),
                id: c.id.clone(),
                layout: c.layout,
                step: c.step,
                epoch: c.epoch,
                bytes: c.bytes,
                files: c.files.len() as u64,
                metrics: c.metrics.clone(),
            });
            if let Some(silent_secs) = resumed {
                sink.send(Event::WatchRunResumed { watch: self.label.clone(), run: c.run.clone(), id: c.id.clone(), silent_secs });
            }
        }
    }

    /// Holds back checkpoints that just became complete by their marker while an upload into
    /// them is still in flight (docs/checkpoints.md). Only those: a watch whose checkpoints were
    /// all reported already sends no ListMultipartUploads, so an idle poll stays one LIST.
    async fn hold_in_flight(&mut self, sink: &dyn Sink) -> Result<()> {
        use crate::checkpoint::inflight::{could_be_in_flight, list_in_flight, mark_in_flight, InFlight};
        let reported = &self.reported;
        let fresh = |c: &Checkpoint| could_be_in_flight(c) && !reported.contains(&c.id);
        if self.uploads_unknown || !self.checkpoints.iter().any(fresh) {
            self.held.clear();
            return Ok(());
        }
        self.upload_checks += 1;
        let found = list_in_flight(&self.conn, &self.bucket, &self.prefix).await?;
        if let InFlight::Unknown(why) = &found {
            self.uploads_unknown = true;
            self.held.clear();
            let message = format!("{}: {why}; checkpoints are reported on their marker alone", self.label);
            sink.send(Event::Notice { message });
            return Ok(());
        }
        let mut candidates: Vec<Checkpoint> = self.checkpoints.iter().filter(|c| fresh(c)).cloned().collect();
        let held: HashSet<String> = mark_in_flight(&mut candidates, &found).into_iter().collect();
        for c in self.checkpoints.iter_mut().filter(|c| held.contains(&c.id)) {
            if let Some(m) = candidates.iter().find(|m| m.id == c.id) {
                c.complete = m.complete.clone();
            }
        }
        self.held = held;
        Ok(())
    }

    /// On a poll that saw no change: checkpoints held back for an upload in flight are checked
    /// again (a completed upload usually changes the listing; an aborted one does not).
    async fn recheck_held(&mut self, sink: &dyn Sink) -> Result<()> {
        if self.held.is_empty() {
            return Ok(());
        }
        for c in self.checkpoints.iter_mut().filter(|c| self.held.contains(&c.id)) {
            c.complete = crate::checkpoint::Completeness::Complete;
        }
        self.hold_in_flight(sink).await?;
        self.report_checkpoints(sink, false, false);
        self.mode = self.choose_mode();
        Ok(())
    }

    fn check_stalls(&mut self, sink: &dyn Sink, now: f64) {
        let resolution = self.opts.interval.as_secs_f64();
        for (name, r) in self.runs.iter_mut() {
            if let Some(s) = r.check_stall(now, self.opts.stall_after, resolution) {
                sink.send(Event::WatchRunStalled {
                    watch: self.label.clone(),
                    run: name.clone(),
                    last_checkpoint: r.last_checkpoint.clone(),
                    silent_secs: s.silent_secs,
                    cadence_secs: s.cadence_secs,
                });
            }
        }
    }

    /// The files as `checkpoint::source` lists them (`refs::listing::view`): content areas
    /// left out, a reference (`KEY.trainctl-ref`, which detection reads as `KEY`) at its logical
    /// size. A reference is read again only when it changes, so an idle poll sends no GET; one
    /// that cannot be read keeps its stored size and is said once per change, as a notice.
    async fn logical_files(&mut self, files: Vec<FileEntry>, sink: &dyn Sink) -> Vec<FileEntry> {
        use crate::refs::listing::{view, ContentAreas};
        let (objects, prefix) = (&self.objects, self.prefix.as_str());
        let listed = |f: &FileEntry| crate::refs::resolve::Listed { key: format!("{prefix}{}", f.path), size: f.size, etag: objects.get(&f.path).and_then(|s| s.etag.clone()) };
        let seen = view(&self.conn, &self.bucket, files, listed, ContentAreas::Hidden { below: prefix }, Some(&mut self.ref_cache)).await;
        for message in self.ref_cache.take_unreadable() {
            sink.send(Event::Notice { message: format!("{}: {message}", self.label) });
        }
        seen.into_iter().map(|(f, seen)| FileEntry { size: seen.size(f.size), ..f }).collect()
    }

    /// GETs the wanted small files that are new or changed since they were last fetched. A file
    /// that cannot be read stays absent: detection then only sees weaker evidence.
    async fn fetch_contents(&mut self, wanted: &[String]) {
        let stale: Vec<String> = wanted
            .iter()
            .filter(|p| {
                let etag = self.objects.get(*p).and_then(|s| s.etag.clone());
                self.contents.get(*p).is_none_or(|(e, _)| *e != etag || etag.is_none())
            })
            .cloned()
            .collect();
        use futures::StreamExt;
        let (conn, bucket, prefix) = (&self.conn, &self.bucket, &self.prefix);
        let got: Vec<(String, Vec<u8>)> = futures::stream::iter(stale)
            .map(|p| async move { get_small(conn, bucket, &format!("{prefix}{p}")).await.ok().map(|b| (p, b)) })
            .buffer_unordered(16)
            .filter_map(|r| async move { r })
            .collect()
            .await;
        for (p, b) in got {
            let etag = self.objects.get(&p).and_then(|s| s.etag.clone());
            self.contents.insert(p, (etag, b));
        }
        self.contents.retain(|p, _| self.objects.contains_key(p));
    }

    /// `start_after` when exactly one run has checkpoints and their names sort by step
    /// (zero-padded); `diff` otherwise.
    fn choose_mode(&self) -> PollMode {
        if self.events {
            return PollMode::Events;
        }
        let runs: HashSet<&str> = self.checkpoints.iter().map(|c| c.run.as_str()).collect();
        if runs.len() != 1 || !sorts_by_step(&self.checkpoints) {
            return PollMode::Diff;
        }
        PollMode::StartAfter
    }

    /// The key polls list after: the start of a checkpoint being written after the newest
    /// complete one, else the last key of the newest complete checkpoint.
    fn watermark(&self) -> Option<String> {
        let mut cps: Vec<&Checkpoint> = self.checkpoints.iter().collect();
        cps.sort_by(|a, b| a.id.cmp(&b.id));
        let last_complete = cps.iter().rposition(|c| c.complete.is_complete());
        let open = cps.iter().skip(last_complete.map_or(0, |i| i + 1)).find(|c| !c.complete.is_complete() && c.is_dir());
        if let Some(c) = open {
            return Some(c.id.clone());
        }
        let c = cps[last_complete?];
        c.files.iter().map(|f| f.path.clone()).max()
    }
}

/// True when every checkpoint's name carries its numbers zero-padded to one width (at least one
/// with a leading zero), so key order is step order and new checkpoints sort after old ones.
pub fn sorts_by_step(checkpoints: &[Checkpoint]) -> bool {
    let names: Vec<Vec<&str>> = checkpoints.iter().map(|c| digit_runs(last_segment(&c.id))).collect();
    let Some(first) = names.first() else { return false };
    if names.iter().any(|n| n.len() != first.len()) {
        return false;
    }
    let mut any_padded = false;
    for i in 0..first.len() {
        let col: Vec<&str> = names.iter().map(|n| n[i]).collect();
        if col.iter().all(|t| *t == col[0]) {
            continue;
        }
        if col.iter().any(|t| t.len() != col[0].len()) {
            return false;
        }
        any_padded |= col.iter().any(|t| t.starts_with('0') && t.len() > 1);
    }
    let mut by_id: Vec<&Checkpoint> = checkpoints.iter().collect();
    by_id.sort_by(|a, b| a.id.cmp(&b.id));
    let steps_ordered = by_id.windows(2).all(|w| w[0].order_key() <= w[1].order_key());
    (any_padded || checkpoints.len() == 1 && first.iter().any(|t| t.starts_with('0') && t.len() > 1)) && steps_ordered
}

fn last_segment(id: &str) -> &str {
    let t = id.trim_end_matches('/');
    t.rsplit('/').next().unwrap_or(t)
}

fn digit_runs(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, ch) in s.char_indices() {
        match (ch.is_ascii_digit(), start) {
            (true, None) => start = Some(i),
            (false, Some(st)) => {
                out.push(&s[st..i]);
                start = None;
            }
            _ => {}
        }
    }
    if let Some(st) = start {
        out.push(&s[st..]);
    }
    out
}

async fn get_small(conn: &Connection, bucket: &str, key: &str) -> Result<Vec<u8>> {
    let ctx = conn.ctx().bucket(bucket).key(key);
    let out = conn.client.get_object().bucket(bucket).key(key).send().await.or_s3(&ctx)?;
    // Listed below the cap, but it may have been replaced by something bigger since.
    let size = out.content_length().unwrap_or(0).max(0) as u64;
    if size > crate::checkpoint::detect::MAX_CONTENT {
        return Err(Error::TooLarge { what: format!("s3://{bucket}/{key}"), size, limit: crate::checkpoint::detect::MAX_CONTENT });
    }
    let body = out.body.collect().await.map_err(|e| Error::S3 { code: "ReadBody".into(), message: e.to_string() })?;
    Ok(body.into_bytes().to_vec())
}

/// Seconds since the Unix epoch, with sub-second precision.
pub fn now_f64() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::{Completeness, Layout};

    fn cp(id: &str, step: u64) -> Checkpoint {
        Checkpoint {
            run: "r".into(),
            id: id.into(),
            layout: Layout::HfTrainer,
            step: Some(step),
            epoch: None,
            metrics: Default::default(),
            files: vec![],
            bytes: 0,
            last_modified: None,
            complete: Completeness::Complete,
            framework_keep: None,
            same_as: None,
        }
    }

    #[test]
    fn zero_padded_steps_sort_and_plain_ones_do_not() {
        assert!(sorts_by_step(&[cp("r/checkpoint-000100/", 100), cp("r/checkpoint-000200/", 200)]));
        assert!(!sorts_by_step(&[cp("r/checkpoint-100/", 100), cp("r/checkpoint-200/", 200)]), "100 → 1000 would break key order");
        assert!(!sorts_by_step(&[cp("r/checkpoint-900/", 900), cp("r/checkpoint-1000/", 1000)]));
        assert!(sorts_by_step(&[cp("r/checkpoint-000100/", 100)]));
        assert!(!sorts_by_step(&[]));
    }
}
