//! `--dedup=refs`: the planning and the writing of content references (`crate::refs`).
//!
//! Plan: a content (CRC64NVME + size) is referenced when it is held more than once — twice or
//! more in this upload, already in the scope's content area, or in an object under the scope
//! whose HEAD shows it. Its content object is then created once (uploaded from the first file
//! holding it, or copied on the server from the object that holds it) unless the area has it,
//! and every file holding it gets a reference object instead of an upload. A content held once
//! is uploaded as a plain object, its hash recorded so that a later upload finds it. Text
//! metadata (`codec::stays_plain`) is never referenced: it is deduplicated by server-side
//! copies, as with plain `--dedup`. A compressed file (`--compress`) is referenced like any
//! other: its content object is stored compressed (`<crc>-<size>.zst` / `.tcz`, the codec's
//! header and metadata included), named by the original's CRC64NVME and size, which its
//! (format-2) reference records.
//!
//! Run (after the uploads and copies): a content object this job uploaded from a file that
//! changed meanwhile is deleted again (its name would lie); each content object is HEADed (it
//! must exist with the reference's size); then each reference is written — only if its file is
//! still what was hashed. A reference that cannot be written is uploaded as the plain file
//! instead, so a `--dedup=refs` upload ends like a plain one.

use super::{Content, Copy, DedupEngine, DedupPlanned, Source, Stamp, META_CRC64NVME};
use crate::event::{Event, Sink};
use crate::refs::{self, SUFFIX};
use crate::transfer::{Outcome, TransferItem, TransferJob, TransferOptions};
use futures::StreamExt;
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use tokio_util::sync::CancellationToken;

/// One reference object to write.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RefPut {
    /// The reference object's key (`logical` + [`SUFFIX`]).
    pub key: String,
    /// The key the file would have had (uncompressed: the original name).
    pub logical: String,
    /// The key it is uploaded to if it cannot be referenced (`logical`, or with the codec
    /// suffix when compressed).
    #[serde(skip)]
    stored_key: String,
    pub local: PathBuf,
    /// The file's (logical) size.
    pub size: u64,
    /// The content object's key.
    pub content: String,
    /// The content object is created by this job (else the content area has it).
    pub new_content: bool,
    #[serde(skip)]
    crc: u64,
    #[serde(skip)]
    stamp: Stamp,
    /// The compression plan of a reference to compressed content (restored when it is
    /// uploaded after all).
    #[serde(skip)]
    compress: Option<crate::transfer::compress::Planned>,
}

/// Whether an item may become a reference: not text metadata (`codec::stays_plain`:
/// `trainer_state.json`, shard indexes, `latest` pointers stay readable by name for trainers,
/// detection and every other tool). Compressed items may (their content object is stored
/// compressed); text metadata is never compressed.
pub(super) fn may_reference(job: &TransferJob, item: &TransferItem) -> bool {
    job.compress.contains_key(&item.key) || !crate::codec::stays_plain(&item.key, item.size)
}

/// Moves the items whose content is held more than once to `job.refs` (see the module
/// documentation), and returns the items that may not be referenced (with their content), for
/// `--dedup`'s copies.
pub(super) fn plan(
    job: &mut TransferJob,
    scope: &str,
    items: Vec<(TransferItem, Option<(Content, Stamp)>)>,
    index: &HashMap<Content, Source>,
    area: &HashSet<String>,
    report: &mut DedupPlanned,
) -> Vec<(TransferItem, Option<(Content, Stamp)>)> {
    let (items, rest): (Vec<_>, Vec<_>) = items.into_iter().partition(|(i, c)| may_reference(job, i) && c.is_some());
    let mut counts: HashMap<Content, usize> = HashMap::new();
    for (c, _) in items.iter().filter_map(|(_, c)| c.as_ref()) {
        *counts.entry(c.clone()).or_insert(0) += 1;
    }
    let mut created: HashSet<Content> = HashSet::new();
    for (item, c) in items {
        let Some((content, stamp)) = c else {
            job.items.push(item);
            continue;
        };
        let (size, crc) = (content.1, content.2);
        let crc64nvme = crate::codec::crc64_base64(crc);
        let compress = job.compress.get(&item.key).cloned();
        let content_key = match &compress {
            Some(p) => refs::compressed_content_key(scope, crc, size, p.codec.suffix()),
            None => refs::content_key(scope, crc, size),
        };
        let in_area = area.contains(&content_key);
        let source = index.get(&content);
        if !in_area && source.is_none() && counts.get(&content).copied().unwrap_or(0) < 2 {
            // Held once: uploaded as it is (compressed objects record their original's hash).
            if compress.is_none() {
                job.metadata.entry(item.key.clone()).or_default().insert(META_CRC64NVME.into(), crc64nvme);
                job.recorded.insert(item.key.clone(), stamp);
            }
            job.items.push(item);
            continue;
        }
        // Referenced: the item itself is not uploaded (its compression plan moves to the
        // content object, and is kept for the fallback to a plain upload).
        job.compress.remove(&item.key);
        let new_content = !in_area && created.insert(content.clone());
        if new_content {
            match source {
                Some(s) => {
                    report.copies += 1;
                    report.bytes_not_sent += s.stored;
                    job.copies.push(Copy { key: content_key.clone(), local: item.local.clone(), size, from: s.key.clone(), from_etag: s.etag.clone(), bytes: s.stored, in_job: false, crc64nvme, stamp, compress: compress.clone() });
                }
                None => {
                    match &compress {
                        Some(p) => {
                            job.compress.insert(content_key.clone(), p.clone());
                        }
                        None => {
                            job.metadata.entry(content_key.clone()).or_default().insert(META_CRC64NVME.into(), crc64nvme);
                            job.recorded.insert(content_key.clone(), stamp);
                        }
                    }
                    job.items.push(TransferItem { local: item.local.clone(), key: content_key.clone(), size, etag: None, write_if: None });
                }
            }
        } else {
            report.bytes_not_sent += size;
        }
        report.refs += 1;
        let logical_key = compress.as_ref().map_or_else(|| item.key.clone(), |p| p.original_key.clone());
        job.refs.push(RefPut { key: format!("{logical_key}{SUFFIX}"), logical: logical_key, stored_key: item.key, local: item.local, size, content: content_key, new_content, crc, stamp, compress });
    }
    rest
}

/// What the planned references keep from being stored (`DedupPlanned::bytes_not_stored`), and
/// whether it is an estimate: each reference's content at the size the store holds it, less the
/// content objects this job creates. Plain content is stored at its size, compressed content
/// copied from an object at that object's size; compressed content not compressed yet is
/// estimated from a sample of its file — the `auto` probe's ratio, else a probe now at the
/// planned level (a few MiB read per distinct content, on a blocking thread). Counting the
/// original's size there would credit the compression's saving to the references, and promise
/// more than the upload saves (the upload reports the exact figure from the stored objects).
pub(super) async fn planned_not_stored(job: &TransferJob) -> (u64, bool) {
    let copied: HashMap<&str, u64> = job.copies.iter().map(|c| (c.key.as_str(), c.bytes)).collect();
    let mut sizes: HashMap<String, u64> = HashMap::new();
    let mut probes = Vec::new();
    let mut seen = HashSet::new();
    for r in job.refs.iter().filter(|r| seen.insert(r.content.as_str())) {
        match (&r.compress, copied.get(r.content.as_str())) {
            (None, _) => {
                sizes.insert(r.content.clone(), r.size);
            }
            (Some(_), Some(&stored)) => {
                sizes.insert(r.content.clone(), stored);
            }
            (Some(p), None) => probes.push((r.content.clone(), r.local.clone(), r.size, p.clone())),
        }
    }
    let estimated = !probes.is_empty();
    let measured = tokio::task::spawn_blocking(move || {
        probes
            .into_iter()
            .map(|(content, local, size, p)| {
                let ratio = p.sample_ratio.or_else(|| {
                    let probe = crate::codec::probe::probe(&local, size, p.level).ok()?;
                    Some(match p.codec {
                        crate::codec::Codec::Zstd => probe.zstd_ratio,
                        crate::codec::Codec::BytePlane { width } => probe.planes.filter(|(w, _)| *w == width).map_or(probe.chosen_ratio(), |(_, r)| r),
                    })
                });
                (content, (size as f64 * ratio.unwrap_or(1.0).clamp(0.0, 1.0)).ceil() as u64)
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_default();
    sizes.extend(measured);
    (not_stored(&job.refs, |r| sizes.get(&r.content).copied().unwrap_or(r.size), |_| true), estimated)
}

/// The references `counted` (by index), each at its content's `stored` size, less the content
/// objects they created (once each): the bytes not stored a second time.
fn not_stored(refs: &[RefPut], stored: impl Fn(&RefPut) -> u64, counted: impl Fn(usize) -> bool) -> u64 {
    let counted: Vec<&RefPut> = refs.iter().enumerate().filter(|(i, _)| counted(*i)).map(|(_, r)| r).collect();
    let all: u64 = counted.iter().map(|r| stored(r)).sum();
    let created: u64 = counted.iter().filter(|r| r.new_content).map(|r| (r.content.as_str(), stored(r))).collect::<HashMap<_, _>>().values().sum();
    all.saturating_sub(created)
}

impl DedupEngine {
    /// Writes the job's references once their content objects exist; what cannot be referenced
    /// is uploaded as the plain file (see the module documentation).
    pub(super) async fn write_refs(&self, job: &TransferJob, opts: &TransferOptions, sink: &dyn Sink, outcome: &mut Outcome, cancel: CancellationToken) -> crate::Result<()> {
        let bucket = job.bucket.as_str();
        let bad = self.drop_changed_content(job, sink).await;
        let keys = job.refs.iter().map(|r| r.content.clone()).filter(|k| !bad.contains(k));
        let seen = refs::resolve::contents(&self.conn, bucket, keys).await.unwrap_or_default();
        let written_results: Vec<(usize, std::result::Result<(), String>)> = futures::stream::iter(0..job.refs.len())
            .map(|i| {
                let (r, bad, seen) = (&job.refs[i], &bad, &seen);
                async move {
                    let why = if bad.contains(&r.content) {
                        Some("the file changed while its content was uploaded".to_string())
                    } else if !matches!(seen.get(&r.content), Some(Some(c)) if c.size == r.size || (r.compress.is_some() && c.size > 0)) {
                        Some(format!("its content object {} is not there", r.content))
                    } else if Stamp::of(&r.local) != Some(r.stamp) {
                        Some("the file changed since it was hashed".to_string())
                    } else {
                        None
                    };
                    let result = match why {
                        Some(w) => Err(w),
                        None => self.put_ref(bucket, r).await.map_err(|e| format!("writing its reference failed ({e})")),
                    };
                    (i, result)
                }
            })
            .buffer_unordered(opts.concurrency.clamp(1, 16))
            .collect()
            .await;
        let mut again = TransferJob { items: Vec::new(), skipped: Vec::new(), rejected: Vec::new(), copies: Vec::new(), recorded: HashMap::new(), refs: Vec::new(), ..job.clone() };
        again.compress.clear();
        again.metadata.clear();
        let mut done = 0u64;
        let mut written: HashSet<usize> = HashSet::new();
        for (i, result) in written_results {
            let r = &job.refs[i];
            match result {
                Ok(()) => {
                    done += 1;
                    written.insert(i);
                    sink.send(Event::ObjectDone { job: job.id, key: r.key.clone(), local: r.local.display().to_string(), bytes: 0, etag: None });
                }
                Err(why) => {
                    sink.send(Event::Notice { message: format!("{}: {why}; uploading the file instead", r.logical) });
                    if let Some(p) = &r.compress {
                        again.compress.insert(r.stored_key.clone(), p.clone());
                    } else if Stamp::of(&r.local) == Some(r.stamp) {
                        again.metadata.entry(r.logical.clone()).or_default().insert(META_CRC64NVME.into(), crate::codec::crc64_base64(r.crc));
                        again.recorded.insert(r.logical.clone(), r.stamp);
                    }
                    again.items.push(TransferItem { local: r.local.clone(), key: r.stored_key.clone(), size: Stamp::of(&r.local).map_or(r.size, |s| s.size), etag: None, write_if: None });
                }
            }
        }
        // At the size each content object has in the store (HEADed above): compressed content
        // counts its compressed bytes, not the file's.
        let stored = |r: &RefPut| match seen.get(&r.content) {
            Some(Some(c)) => c.size,
            _ => r.size,
        };
        outcome.done += done;
        outcome.referenced = done;
        outcome.bytes_not_stored = not_stored(&job.refs, stored, |i| written.contains(&i));
        if done > 0 {
            let saved = humansize::format_size(outcome.bytes_not_stored, humansize::BINARY);
            sink.send(Event::Notice { message: format!("wrote {done} references in place of repeated files ({saved} not stored twice)") });
        }
        if !again.items.is_empty() && !cancel.is_cancelled() {
            let o = self.inner.run(&again, opts, sink, cancel).await?;
            self.forget_changed(&again, sink).await;
            outcome.done += o.done;
            outcome.bytes_done += o.bytes_done;
            outcome.failed.extend(o.failed);
        }
        Ok(())
    }

    /// One reference object: its canonical body, as JSON.
    async fn put_ref(&self, bucket: &str, r: &RefPut) -> crate::Result<()> {
        use crate::s3::errors::SdkResultExt;
        let body = refs::Ref::to(r.content.clone(), r.crc, r.size).body();
        let ctx = self.conn.ctx().bucket(bucket).key(&r.key);
        self.conn.client.put_object().bucket(bucket).key(&r.key).content_type("application/json").body(body.into()).send().await.or_s3(&ctx)?;
        Ok(())
    }

    /// Content objects this job uploaded from a file that changed before its upload ended: the
    /// bytes may not be the ones its name promises, so they are deleted again and not referenced.
    async fn drop_changed_content(&self, job: &TransferJob, sink: &dyn Sink) -> HashSet<String> {
        let mut bad = HashSet::new();
        for r in job.refs.iter().filter(|r| r.new_content) {
            let Some(stamp) = job.recorded.get(&r.content) else { continue };
            let Some(item) = job.items.iter().find(|i| i.key == r.content) else { continue };
            if Stamp::of(&item.local) == Some(*stamp) || !bad.insert(r.content.clone()) {
                continue;
            }
            if let Err(e) = crate::s3::delete::delete_all(&self.conn, &job.bucket, &[r.content.as_str()]).await {
                sink.send(Event::Notice { message: format!("{} changed while it was uploaded as {}, which could not be deleted again ({e}): delete it", item.local.display(), r.content) });
            }
        }
        bad
    }
}

/// The sink of a download that resolves references: each item's events name the reference it
/// comes from (by local path; failures by the first reference to that content), not the
/// content object.
pub(super) struct NameRefs<'a> {
    inner: &'a dyn Sink,
    by_local: &'a HashMap<PathBuf, String>,
    by_content: HashMap<&'a str, &'a str>,
}

impl<'a> NameRefs<'a> {
    pub(super) fn new(job: &'a TransferJob, inner: &'a dyn Sink) -> Self {
        let mut by_content = HashMap::new();
        for item in &job.items {
            if let Some(r) = job.ref_of_local.get(&item.local) {
                by_content.entry(item.key.as_str()).or_insert(r.as_str());
            }
        }
        NameRefs { inner, by_local: &job.ref_of_local, by_content }
    }
}

impl Sink for NameRefs<'_> {
    fn send(&self, event: Event) {
        let event = match event {
            Event::ObjectDone { job, key, local, bytes, etag } => {
                let key = self.by_local.get(&PathBuf::from(&local)).cloned().unwrap_or(key);
                Event::ObjectDone { job, key, local, bytes, etag }
            }
            Event::ObjectFailed { job, key, error } => {
                let key = self.by_content.get(key.as_str()).map_or(key, |r| r.to_string());
                Event::ObjectFailed { job, key, error }
            }
            other => other,
        };
        self.inner.send(event);
    }
}
