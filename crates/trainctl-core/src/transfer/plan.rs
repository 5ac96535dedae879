//! Planning: turns "upload this dir to that prefix" into a [`TransferJob`] — the exact list of
//! files and keys an engine will move, what is already complete (skipped) and what is refused
//! (rejected) — so `--dry-run` shows, and the engine executes, the same value.
//!
//! Semantics follow `aws s3 cp` / s5cmd:
//! - uploading a file to a prefix (`s3://b/p/` or `s3://b`) appends the file name; to any other
//!   key it becomes that key;
//! - uploading a directory needs `--recursive` and puts the directory's *contents* under the
//!   prefix: `dir/a/b` → `prefix/a/b`;
//! - `--include` / `--exclude` are globs on the path relative to the directory, with `/`
//!   separators. `*` and `?` do **not** cross `/` (write `**/*.pt` for "any depth, the top
//!   included"); when both
//!   are given, exclude wins; with no include everything not excluded is taken;
//! - symlinks to files are followed (the link's target is uploaded under the link's name);
//!   symlinks to directories are not descended into (they are reported as skipped), so a link
//!   cannot pull `/` into an upload or make the walk loop.
//!
//! Remote listings stream page by page; at most one `HashMap` entry per key is kept.

use crate::error::{Error, ErrorInfo, Result};
use crate::event::Direction;
use crate::s3::errors::map_sdk_error;
use crate::s3::{Connection, S3Url};
use crate::transfer::safe_path::{ensure_no_symlink_escape, local_path_for_key};
use crate::transfer::{TransferItem, TransferJob};
use futures::StreamExt;
use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

/// ListObjectsV2 pages under `prefix`, fetched one at a time as the caller polls.
macro_rules! list_pages {
    ($conn:expr, $bucket:expr, $prefix:expr) => {
        $conn.client.list_objects_v2().bucket($bucket).prefix($prefix).into_paginator().send()
    };
}

/// When an item that already exists at the destination counts as complete. Re-running the same
/// command must skip what a previous run finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub enum SkipRule {
    /// Always transfer.
    Never,
    /// Skip when the destination has the same size (`cp` re-runs).
    #[default]
    SameSize,
    /// Skip when the size is equal and the source is not newer than the destination (`sync`).
    SameSizeNotNewer,
}

impl SkipRule {
    /// The reason to skip, or `None` to transfer. Times are Unix seconds; an unknown time
    /// never counts as "not newer".
    fn reason(self, src: (u64, Option<i64>), dst: (u64, Option<i64>)) -> Option<String> {
        match self {
            SkipRule::Never => None,
            SkipRule::SameSize if src.0 == dst.0 => Some(format!("already complete ({} bytes, same size)", dst.0)),
            SkipRule::SameSizeNotNewer => match (src, dst) {
                ((ss, Some(st)), (ds, Some(dt))) if ss == ds && st <= dt => {
                    Some(format!("up to date ({ds} bytes, same size, source not newer)"))
                }
                _ => None,
            },
            SkipRule::SameSize => None,
        }
    }
}

/// What `trainctl s3 upload` was asked for, besides the two paths.
#[derive(Debug, Clone, Default)]
pub struct UploadPlanOptions {
    pub recursive: bool,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    pub storage_class: Option<String>,
    pub skip_existing: SkipRule,
}

/// What `trainctl s3 sync` was asked for, besides the two sides and the direction.
#[derive(Debug, Clone, Default)]
pub struct SyncOptions {
    /// Also plan the deletion of what exists only at the destination.
    pub delete: bool,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    pub storage_class: Option<String>,
}

/// One thing `sync --delete` would remove from the destination, with what the plan saw of it.
/// Why carry it: a deletion may be applied long after it was planned (a prompt left open, a big
/// transfer first); [`apply_deletions`] checks each victim is still what was seen and skips a
/// changed one with a note instead of deleting data written since.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Deletion {
    /// An object as listed at plan time: deleted only while it still has this ETag and size
    /// (a conditional `If-Match` delete where the store honours it, a HEAD first elsewhere).
    #[serde(rename = "object")]
    SeenObject { bucket: String, key: String, size: u64, etag: Option<String> },
    /// A local file as walked at plan time: deleted only while it still has this size and
    /// modification time (nanoseconds since the epoch).
    LocalFile { path: PathBuf, size: u64, mtime_ns: Option<i64> },
    /// An object named without being looked at (the desktop browser's delete): deleted as is.
    /// Planners in core produce [`Deletion::SeenObject`].
    #[serde(rename = "object_unchecked")]
    Object { bucket: String, key: String },
}

impl Deletion {
    /// `s3://bucket/key` or the local path, as shown to the user.
    pub fn target(&self) -> String {
        match self {
            Deletion::SeenObject { bucket, key, .. } | Deletion::Object { bucket, key } => format!("s3://{bucket}/{key}"),
            Deletion::LocalFile { path, .. } => path.display().to_string(),
        }
    }
}

/// A sync: the transfers to make, and (with `--delete`) what to delete afterwards. The CLI shows
/// the deletions and asks (or needs `--yes`) before [`apply_deletions`].
#[derive(Debug, Clone, Serialize)]
pub struct SyncPlan {
    pub job: TransferJob,
    pub deletions: Vec<Deletion>,
}

/// What [`apply_deletions`] did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DeletionOutcome {
    pub deleted: u64,
    pub failed: Vec<(String, ErrorInfo)>,
    /// Victims left in place because they changed (or vanished) since the plan: target, why.
    pub skipped: Vec<(String, String)>,
}

/// Plans an upload of a file or (with `recursive`) a directory's contents to `dest`.
pub async fn plan_upload(local: &Path, dest: &S3Url, opts: &UploadPlanOptions, conn: &Connection) -> Result<TransferJob> {
    let meta = local_metadata(local)?;
    let filter = PathFilter::new(&opts.include, &opts.exclude)?;
    if meta.is_dir() {
        if !opts.recursive {
            return Err(Error::LocalKind { path: local.to_path_buf(), expected: "file (it is a directory: add --recursive)" });
        }
        let mut job = TransferJob::new(Direction::Upload, &dest.bucket, local);
        job.storage_class = opts.storage_class.clone();
        let prefix = dest.dir_prefix();
        let files = walk_local(local, &filter, &mut job);
        let mut remote = match opts.skip_existing {
            SkipRule::Never => HashMap::new(),
            // A content reference (`--dedup=refs`) holds its file: a re-run skips it as complete.
            _ => refs_as_logical(conn, &dest.bucket, &prefix, remote_index(conn, &dest.bucket, &prefix).await?).await,
        };
        plan_upload_files(&mut job, files, &prefix, &mut remote, opts.skip_existing);
        return Ok(job);
    }
    plan_upload_file(local, &meta, dest, opts, &filter, conn).await
}

/// Plans a download of one object, or (with `recursive`) of everything under a prefix.
pub async fn plan_download(src: &S3Url, local: &Path, recursive: bool, conn: &Connection) -> Result<TransferJob> {
    if !recursive {
        return plan_download_object(src, local, conn).await;
    }
    let (job, listed) = plan_download_prefix(src, local, SkipRule::SameSize, &PathFilter::everything(), conn).await?;
    if listed.is_empty() && job.skipped.is_empty() && job.rejected.is_empty() {
        return Err(Error::NotFound(src.to_string()));
    }
    Ok(job)
}

/// Plans an incremental sync (size + mtime) between a local directory and a prefix.
pub async fn plan_sync(local: &Path, remote: &S3Url, direction: Direction, opts: &SyncOptions, conn: &Connection) -> Result<SyncPlan> {
    let filter = PathFilter::new(&opts.include, &opts.exclude)?;
    match direction {
        Direction::Upload => plan_sync_up(local, remote, opts, &filter, conn).await,
        Direction::Download => plan_sync_down(local, remote, opts, &filter, conn).await,
    }
}

/// Executes the deletions of a [`SyncPlan`], re-checking each victim right before deleting it:
/// a local file must still have the size and mtime the plan saw (removed one by one, refusing
/// any path reached through a symlinked directory; a symlink that is itself the file is removed
/// as a link); an object must still have its ETag — through a conditional delete (`If-Match`)
/// where the provider is known to honour it (`conditional_delete` in the provider quirks), else
/// a HEAD just before an (also `If-Match`) delete. Changed or vanished victims are skipped with
/// a note in [`DeletionOutcome::skipped`].
pub async fn apply_deletions(plan: &SyncPlan, conn: &Connection) -> Result<DeletionOutcome> {
    let mut out = DeletionOutcome::default();
    let mut unchecked: Vec<&str> = Vec::new();
    let mut seen: Vec<(&str, &str, u64, Option<&str>)> = Vec::new();
    let mut bucket = "";
    for d in &plan.deletions {
        match d {
            Deletion::Object { bucket: b, key } => {
                bucket = b;
                unchecked.push(key);
            }
            Deletion::SeenObject { bucket, key, size, etag } => seen.push((bucket.as_str(), key.as_str(), *size, etag.as_deref())),
            Deletion::LocalFile { path, size, mtime_ns } => match &plan.job.local_root {
                Some(root) => delete_local(root, path, (*size, *mtime_ns), &mut out),
                None => out.failed.push((path.display().to_string(), Error::Internal("local deletion in an upload plan".into()).info())),
            },
        }
    }
    for chunk in unchecked.chunks(crate::s3::delete::BATCH) {
        delete_batch(conn, bucket, chunk, &mut out).await?;
    }
    let conditional = crate::config::quirks::get_or_other(&conn.profile.provider).conditional_delete;
    // By index: a closure over borrowed tuples is not provably `Send` for every lifetime, which
    // the desktop's command futures need.
    let seen = &seen;
    let verdicts: Vec<(String, Verdict)> = futures::stream::iter(0..seen.len())
        .map(|i| async move {
            let (bucket, key, size, etag) = seen[i];
            (format!("s3://{bucket}/{key}"), delete_if_unchanged(conn, bucket, key, (size, etag), conditional).await)
        })
        .buffer_unordered(CHECKED_DELETE_PARALLELISM)
        .collect()
        .await;
    for (target, v) in verdicts {
        match v {
            Verdict::Deleted => out.deleted += 1,
            Verdict::Skipped(why) => out.skipped.push((target, why)),
            Verdict::Failed(info) => out.failed.push((target, info)),
        }
    }
    Ok(out)
}

/// Checked deletes in flight at once (each is one DeleteObject, plus a HEAD where the store does
/// not honour `If-Match`).
const CHECKED_DELETE_PARALLELISM: usize = 16;

/// What happened to one victim.
#[derive(Debug)]
pub(crate) enum Verdict {
    Deleted,
    Skipped(String),
    Failed(ErrorInfo),
}

/// Deletes `key` only while it is still the object seen at plan time (`size`, `etag`).
pub(crate) async fn delete_if_unchanged(conn: &Connection, bucket: &str, key: &str, seen: (u64, Option<&str>), conditional: bool) -> Verdict {
    if !conditional {
        match head(conn, bucket, key).await {
            Ok(None) => return Verdict::Skipped("already gone".into()),
            Ok(Some(now)) => {
                if let Some(change) = object_change(seen, (now.size, now.etag.as_deref())) {
                    return Verdict::Skipped(change);
                }
            }
            Err(e) => return Verdict::Failed(e.info()),
        }
    }
    let send = |if_match: Option<&str>| conn.client.delete_object().bucket(bucket).key(key).set_if_match(if_match.map(str::to_string)).send();
    let status = http_status::<aws_sdk_s3::operation::delete_object::DeleteObjectError>;
    match send(seen.1).await {
        Ok(_) => Verdict::Deleted,
        Err(e) if status(&e) == Some(412) => Verdict::Skipped("changed since the plan (the store refused the conditional delete: its ETag differs)".into()),
        Err(e) if status(&e) == Some(404) => Verdict::Skipped("already gone".into()),
        // A store that rejects the header outright: the HEAD above already checked it.
        Err(e) if !conditional && seen.1.is_some() && matches!(status(&e), Some(400 | 501)) => match send(None).await {
            Ok(_) => Verdict::Deleted,
            Err(e) => Verdict::Failed(map_sdk_error(e, &conn.ctx().bucket(bucket).key(key)).info()),
        },
        Err(e) => Verdict::Failed(map_sdk_error(e, &conn.ctx().bucket(bucket).key(key)).info()),
    }
}

/// The HTTP status of a failed call, when the server answered at all.
fn http_status<E>(e: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> Option<u16> {
    e.raw_response().map(|r| r.status().as_u16())
}

/// How an object differs from what the plan saw, or `None` when it is the same. ETags compare
/// without their quotes (stores differ in quoting); without an ETag the size decides.
fn object_change(seen: (u64, Option<&str>), now: (u64, Option<&str>)) -> Option<String> {
    let bare = |e: Option<&str>| e.map(|e| e.trim_matches('"').to_string());
    let etag_differs = matches!((bare(seen.1), bare(now.1)), (Some(a), Some(b)) if a != b);
    (etag_differs || seen.0 != now.0).then(|| format!("changed since the plan ({} bytes then, {} now{})", seen.0, now.0, if etag_differs { ", another ETag" } else { "" }))
}

// ---------------------------------------------------------------------------------------------
// Uploads

async fn plan_upload_file(
    local: &Path,
    meta: &std::fs::Metadata,
    dest: &S3Url,
    opts: &UploadPlanOptions,
    filter: &PathFilter,
    conn: &Connection,
) -> Result<TransferJob> {
    let parent = local.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut job = TransferJob::new(Direction::Upload, &dest.bucket, parent);
    job.storage_class = opts.storage_class.clone();
    let name = local.file_name().and_then(|n| n.to_str()).ok_or_else(|| not_utf8(local))?;
    if !filter.allows(name) {
        job.skipped.push((local.display().to_string(), "excluded by --include/--exclude".into()));
        return Ok(job);
    }
    let key = if dest.is_prefix() { format!("{}{name}", dest.key) } else { dest.key.clone() };
    let file = LocalFile { path: local.to_path_buf(), rel: name.to_string(), size: meta.len(), mtime: mtime_secs(meta), mtime_ns: mtime_nanos(meta) };
    if let Err(e) = std::fs::File::open(local) {
        job.rejected.push((local.display().to_string(), Error::io(local, e).info()));
        return Ok(job);
    }
    let mut remote = HashMap::new();
    if opts.skip_existing != SkipRule::Never {
        if let Some(obj) = head(conn, &dest.bucket, &key).await? {
            remote.insert(key.clone(), obj);
        }
    }
    decide_upload(&mut job, file, key, &mut remote, opts.skip_existing);
    Ok(job)
}

/// Adds one item (or skip) per local file; removes each seen key from `remote`, so what is left
/// there afterwards exists only remotely.
fn plan_upload_files(job: &mut TransferJob, files: Vec<LocalFile>, prefix: &str, remote: &mut HashMap<String, RemoteObj>, rule: SkipRule) {
    for f in files {
        let key = format!("{prefix}{}", f.rel);
        decide_upload(job, f, key, remote, rule);
    }
}

fn decide_upload(job: &mut TransferJob, f: LocalFile, key: String, remote: &mut HashMap<String, RemoteObj>, rule: SkipRule) {
    if let Some(obj) = remote.remove(&key) {
        if let Some(reason) = rule.reason((f.size, f.mtime), (obj.size, obj.mtime)) {
            job.skipped.push((key, reason));
            return;
        }
    }
    job.items.push(TransferItem { local: f.path, key, size: f.size, etag: None, write_if: None });
}

async fn plan_sync_up(local: &Path, remote_url: &S3Url, opts: &SyncOptions, filter: &PathFilter, conn: &Connection) -> Result<SyncPlan> {
    if !local_metadata(local)?.is_dir() {
        return Err(Error::LocalKind { path: local.to_path_buf(), expected: "directory" });
    }
    let mut job = TransferJob::new(Direction::Upload, &remote_url.bucket, local);
    job.storage_class = opts.storage_class.clone();
    let prefix = remote_url.dir_prefix();
    let files = walk_local(local, filter, &mut job);
    let mut remote = refs_as_logical(conn, &remote_url.bucket, &prefix, remote_index(conn, &remote_url.bucket, &prefix).await?).await;
    plan_upload_files(&mut job, files, &prefix, &mut remote, SkipRule::SameSizeNotNewer);
    let mut deletions = Vec::new();
    if opts.delete {
        deletions = remote_victims(remote, &remote_url.bucket, &prefix, filter);
    }
    Ok(SyncPlan { job, deletions })
}

/// The objects left in `remote` (those no local file maps to) as deletions, in key order, each
/// with what the listing said of it. `strip_prefix`: a key a non-compliant server listed outside
/// the prefix is never a victim (and never a panic, as `&k[prefix.len()..]` was).
fn remote_victims(remote: HashMap<String, RemoteObj>, bucket: &str, prefix: &str, filter: &PathFilter) -> Vec<Deletion> {
    let mut victims: Vec<(String, RemoteObj)> =
        remote.into_iter().filter(|(k, _)| !k.ends_with('/') && k.strip_prefix(prefix).is_some_and(|rel| filter.allows(rel))).collect();
    victims.sort_by(|a, b| a.0.cmp(&b.0));
    victims.into_iter().map(|(key, o)| Deletion::SeenObject { bucket: bucket.to_string(), key: o.stored_as.unwrap_or(key), size: o.stored_size.unwrap_or(o.size), etag: o.etag }).collect()
}

/// The remote side of an upload or a one-way sync up as the files it holds: content objects of references
/// (`crate::refs`) are no files (never compared, never deletion victims: references point at
/// them), and `KEY.trainctl-ref` stands for `KEY` at its logical size (`refs::listing::view`),
/// deleted as itself. A plain `KEY` beside it wins (the reference is then an object like any
/// other).
async fn refs_as_logical(conn: &Connection, bucket: &str, prefix: &str, remote: HashMap<String, RemoteObj>) -> HashMap<String, RemoteObj> {
    use crate::refs::listing::{view, ContentAreas};
    let twins: HashSet<String> = remote.keys().filter(|k| crate::refs::logical_key(k).is_some_and(|l| remote.contains_key(l))).cloned().collect();
    let listed = |(k, o): &(String, RemoteObj)| crate::refs::resolve::Listed { key: k.clone(), size: o.size, etag: o.etag.clone() };
    let seen = view(conn, bucket, remote.into_iter().collect(), listed, ContentAreas::Hidden { below: prefix }, None).await;
    seen.into_iter()
        .map(|((key, mut obj), seen)| match crate::refs::logical_key(&key) {
            Some(logical) if !twins.contains(&key) => {
                obj.stored_size = Some(obj.size);
                obj.size = seen.size(obj.size);
                let logical = logical.to_string();
                obj.stored_as = Some(key);
                (logical, obj)
            }
            _ => (key, obj),
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Downloads

async fn plan_download_object(src: &S3Url, local: &Path, conn: &Connection) -> Result<TransferJob> {
    if src.is_prefix() {
        return Err(Error::Usage(format!("{src} names a prefix, not an object: add --recursive to download everything under it")));
    }
    // A key stored as a content reference (`--dedup=refs`) is found by its logical name too.
    let (key, obj) = match head(conn, &src.bucket, &src.key).await? {
        Some(obj) => (src.key.clone(), obj),
        None => {
            let reference = format!("{}{}", src.key, crate::refs::SUFFIX);
            match head(conn, &src.bucket, &reference).await? {
                Some(obj) if crate::refs::logical_key(&reference).is_some() => (reference, obj),
                _ => return Err(Error::NotFound(src.to_string())),
            }
        }
    };
    let logical = crate::refs::logical_key(&key).unwrap_or(&key).to_string();
    let into_dir = local.is_dir() || local.as_os_str().to_string_lossy().ends_with('/');
    let (root, path) = if into_dir {
        let parent_prefix = logical.rfind('/').map(|i| &logical[..=i]).unwrap_or("");
        (local.to_path_buf(), local_path_for_key(local, parent_prefix, &logical))
    } else {
        let parent = local.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        if parent.exists() && !parent.is_dir() {
            return Err(Error::LocalKind { path: parent.to_path_buf(), expected: "directory" });
        }
        (parent.to_path_buf(), Ok(local.to_path_buf()))
    };
    let mut job = TransferJob::new(Direction::Download, &src.bucket, root.clone());
    match path.and_then(|p| ensure_no_symlink_escape(&root, &p).map(|_| p)) {
        Err(e) => job.rejected.push((key, e.info())),
        Ok(p) if key != logical => resolve_refs(&mut job, vec![(key, p, obj)], &HashSet::new(), SkipRule::SameSize, conn).await?,
        Ok(p) => decide_download(&mut job, p, key, obj, SkipRule::SameSize),
    }
    Ok(job)
}

/// Plans the download of content references (`crate::refs`): each `(reference key, local path
/// of its logical name, listed reference)` becomes an item fetching its content object to the
/// logical path, which must match the reference's CRC64NVME (`job.expected_crc64`). A
/// reference whose logical key is also a plain object (`plain`) is skipped (the plain object
/// is downloaded); one whose body is unusable or whose content object is missing is rejected
/// with an error naming both keys.
async fn resolve_refs(job: &mut TransferJob, pending: Vec<(String, PathBuf, RemoteObj)>, plain: &HashSet<String>, rule: SkipRule, conn: &Connection) -> Result<()> {
    use crate::refs::resolve;
    let (shadowed, pending): (Vec<_>, Vec<_>) = pending.into_iter().partition(|(k, _, _)| crate::refs::logical_key(k).is_some_and(|l| plain.contains(l)));
    for (key, _, _) in shadowed {
        let reason = format!("a plain object {} is there too and is downloaded instead", crate::refs::logical_key(&key).unwrap_or_default());
        job.skipped.push((key, reason));
    }
    let listed: Vec<resolve::Listed> = pending.iter().map(|(k, _, o)| resolve::Listed { key: k.clone(), size: o.size, etag: o.etag.as_deref().map(|e| e.trim_matches('"').to_string()) }).collect();
    let bodies = resolve::read_all(conn, &job.bucket, &listed).await;
    let contents = resolve::contents(conn, &job.bucket, bodies.iter().flatten().map(|r| r.content.clone())).await?;
    for ((key, path, obj), body) in pending.into_iter().zip(bodies) {
        let r = match body {
            Ok(r) => r,
            Err(e) => {
                job.rejected.push((key, e.info()));
                continue;
            }
        };
        match contents.get(&r.content) {
            Some(Some(c)) if c.size == r.size && r.compressed().is_none() => {
                let before = job.skipped.len();
                job.ref_of_local.insert(path.clone(), key.clone());
                decide_download(job, path, r.content.clone(), RemoteObj { size: r.size, mtime: obj.mtime, etag: c.etag.clone(), stored_as: None, stored_size: None }, rule);
                if let Some(s) = job.skipped.get_mut(before) {
                    s.0 = key;
                }
                job.expected_crc64.insert(r.content.clone(), r.crc());
            }
            // Compressed content: compared with the local file at the logical size, decoded to
            // `NAME` as it arrives (`transfer::native`), which must give the reference's size
            // and CRC64NVME.
            Some(Some(c)) if c.size > 0 && r.compressed().is_some() => {
                let (before_items, before_skipped) = (job.items.len(), job.skipped.len());
                job.ref_of_local.insert(path.clone(), key.clone());
                decide_download(job, path.clone(), r.content.clone(), RemoteObj { size: r.size, mtime: obj.mtime, etag: c.etag.clone(), stored_as: None, stored_size: None }, rule);
                if let Some(s) = job.skipped.get_mut(before_skipped) {
                    s.0 = key.clone();
                }
                if let Some(item) = job.items.get_mut(before_items) {
                    item.size = c.size;
                }
                job.expected_original.insert(r.content.clone(), (r.size, r.crc()));
            }
            Some(Some(c)) => {
                let detail = format!("its content object {} holds {} bytes, not {}", r.content, c.size, r.size);
                job.rejected.push((key.clone(), Error::RefCorrupt { bucket: job.bucket.clone(), reference: key, detail }.info()));
            }
            _ => {
                let e = Error::RefContentMissing { bucket: job.bucket.clone(), reference: key.clone(), content: r.content.clone() };
                job.missing_content.insert(key.clone(), r.content);
                job.rejected.push((key, e.info()));
            }
        }
    }
    Ok(())
}

async fn plan_download_prefix(
    src: &S3Url,
    local: &Path,
    rule: SkipRule,
    filter: &PathFilter,
    conn: &Connection,
) -> Result<(TransferJob, HashSet<PathBuf>)> {
    if local.exists() && !local.is_dir() {
        return Err(Error::LocalKind { path: local.to_path_buf(), expected: "directory" });
    }
    let mut job = TransferJob::new(Direction::Download, &src.bucket, local);
    let prefix = src.dir_prefix();
    let mut listed = HashSet::new();
    let (mut refs, mut plain) = (Vec::new(), HashSet::new());
    let mut pages = list_pages!(conn, &src.bucket, &prefix);
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| map_sdk_error(e, &conn.ctx().bucket(&src.bucket)))?;
        for o in page.contents() {
            let obj = RemoteObj::from(o);
            let key = o.key().unwrap_or_default().to_string();
            if key.ends_with('/') && obj.size == 0 {
                continue; // directory marker
            }
            if crate::refs::in_content_area(&prefix, &key) {
                continue; // content of references: reached through them
            }
            let logical = crate::refs::logical_key(&key).unwrap_or(&key).to_string();
            if !filter.allows(logical.strip_prefix(&prefix).unwrap_or(&logical)) {
                continue;
            }
            match local_path_for_key(local, &prefix, &logical).and_then(|p| ensure_no_symlink_escape(local, &p).map(|_| p)) {
                Err(e) => job.rejected.push((key, e.info())),
                Ok(path) if logical != key => {
                    listed.insert(path.clone());
                    refs.push((key, path, obj));
                }
                Ok(path) => {
                    listed.insert(path.clone());
                    plain.insert(key.clone());
                    decide_download(&mut job, path, key, obj, rule);
                }
            }
        }
    }
    if !refs.is_empty() {
        resolve_refs(&mut job, refs, &plain, rule, conn).await?;
    }
    reject_name_collisions(&mut job, &listed);
    Ok((job, listed))
}

/// Refuses every item whose local name equals another listed name once case is folded and
/// Unicode is normalised (NFC): `Model.pt` / `model.pt`, or `é` composed / decomposed.
///
/// Decided conservatively, per job and whatever the destination filesystem: probing for a
/// case-insensitive or normalising filesystem (macOS APFS/HFS+, Windows volumes, SMB shares,
/// ext4 `casefold` folders) needs a write before the plan and can differ folder by folder, while
/// a collision on such a filesystem silently makes one object overwrite the other. So neither
/// colliding item is written (no arbitrary winner); each gets a per-item
/// [`Error::NameCollision`] naming the other. Names already complete on disk (skipped) take part
/// in the comparison but are left as they are.
fn reject_name_collisions(job: &mut TransferJob, listed: &HashSet<PathBuf>) {
    let mut by_folded: HashMap<String, Vec<&PathBuf>> = HashMap::new();
    for path in listed {
        by_folded.entry(folded_name(path)).or_default().push(path);
    }
    let colliding: HashMap<&PathBuf, &PathBuf> = by_folded
        .values()
        .filter(|paths| paths.len() > 1)
        .flat_map(|paths| paths.iter().map(move |p| (*p, *paths.iter().find(|o| *o != p).unwrap_or(p))))
        .collect();
    if colliding.is_empty() {
        return;
    }
    let key_of: HashMap<&PathBuf, &str> = job.items.iter().map(|i| (&i.local, i.key.as_str())).collect();
    let mut refused = Vec::new();
    for item in &job.items {
        if let Some(other) = colliding.get(&item.local) {
            let other = key_of.get(other).map(|k| k.to_string()).unwrap_or_else(|| other.display().to_string());
            refused.push((item.key.clone(), Error::NameCollision { key: item.key.clone(), other }.info()));
        }
    }
    job.items.retain(|i| !colliding.contains_key(&i.local));
    job.rejected.extend(refused);
}

/// A path as a case-insensitive, normalising filesystem compares it: NFC, then lower case, then
/// NFC again (lower-casing can produce decomposed sequences).
fn folded_name(path: &Path) -> String {
    use unicode_normalization::UnicodeNormalization;
    let nfc: String = path.to_string_lossy().nfc().collect();
    nfc.to_lowercase().nfc().collect()
}

fn decide_download(job: &mut TransferJob, path: PathBuf, key: String, obj: RemoteObj, rule: SkipRule) {
    match std::fs::symlink_metadata(&path) {
        Ok(m) if m.is_dir() => {
            let e = Error::LocalKind { path: path.clone(), expected: "file (a directory is in the way)" };
            job.rejected.push((key, e.info()));
            return;
        }
        Ok(m) => {
            if let Some(reason) = rule.reason((obj.size, obj.mtime), (m.len(), mtime_secs(&m))) {
                job.skipped.push((key, reason));
                return;
            }
        }
        Err(_) => {}
    }
    job.items.push(TransferItem { local: path, key, size: obj.size, etag: obj.etag, write_if: None });
}

async fn plan_sync_down(local: &Path, remote_url: &S3Url, opts: &SyncOptions, filter: &PathFilter, conn: &Connection) -> Result<SyncPlan> {
    let (job, listed) = plan_download_prefix(remote_url, local, SkipRule::SameSizeNotNewer, filter, conn).await?;
    let mut deletions = Vec::new();
    if opts.delete && local.is_dir() {
        // A compressed object (`X.zst`, `--compress`) is downloaded as `X`: that file is the
        // object's local copy, not an extra.
        let decoded: HashSet<PathBuf> = listed.iter().filter_map(|p| Some(p.with_file_name(crate::codec::original_name(p.file_name()?.to_str()?)?))).collect();
        let mut scratch = TransferJob::new(Direction::Download, &remote_url.bucket, local);
        for f in walk_local(local, filter, &mut scratch) {
            if !listed.contains(&f.path) && !decoded.contains(&f.path) {
                deletions.push(Deletion::LocalFile { path: f.path, size: f.size, mtime_ns: f.mtime_ns });
            }
        }
    }
    Ok(SyncPlan { job, deletions })
}

// ---------------------------------------------------------------------------------------------
// Local side

struct LocalFile {
    path: PathBuf,
    /// Relative to the walked root, `/`-separated.
    rel: String,
    size: u64,
    mtime: Option<i64>,
    /// The same time to the nanosecond: what `sync --delete` re-checks before removing.
    mtime_ns: Option<i64>,
}

/// Walks `root` in name order: regular files and symlinks to files that pass `filter`.
/// Unreadable entries go to `job.rejected`; links to directories and special files to
/// `job.skipped`.
fn walk_local(root: &Path, filter: &PathFilter, job: &mut TransferJob) -> Vec<LocalFile> {
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(root).follow_links(false).min_depth(1).sort_by_file_name() {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                let path = e.path().map(Path::to_path_buf).unwrap_or_else(|| root.to_path_buf());
                let io = e.into_io_error().unwrap_or_else(|| std::io::Error::other("filesystem loop"));
                job.rejected.push((path.display().to_string(), Error::io(path, io).info()));
                continue;
            }
        };
        if entry.file_type().is_dir() {
            continue;
        }
        let path = entry.path();
        let Some(rel) = relative_slash_path(root, path) else {
            job.rejected.push((path.display().to_string(), not_utf8(path).info()));
            continue;
        };
        if !filter.allows(&rel) {
            continue;
        }
        if let Some(f) = local_file(path, rel, entry.file_type().is_symlink(), job) {
            out.push(f);
        }
    }
    out
}

/// Stats (following a link) and opens one walked file; records why it is not usable.
fn local_file(path: &Path, rel: String, is_link: bool, job: &mut TransferJob) -> Option<LocalFile> {
    let shown = path.display().to_string();
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => {
            job.rejected.push((shown, Error::io(path, e).info()));
            return None;
        }
    };
    if meta.is_dir() {
        job.skipped.push((shown, "symlink to a directory (not followed)".into()));
        return None;
    }
    if !meta.is_file() {
        let what = if is_link { "symlink to a special file" } else { "not a regular file" };
        job.skipped.push((shown, what.into()));
        return None;
    }
    if let Err(e) = std::fs::File::open(path) {
        job.rejected.push((shown, Error::io(path, e).info()));
        return None;
    }
    Some(LocalFile { path: path.to_path_buf(), rel, size: meta.len(), mtime: mtime_secs(&meta), mtime_ns: mtime_nanos(&meta) })
}

fn relative_slash_path(root: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(root).ok()?;
    let parts: Option<Vec<&str>> = rel.components().map(|c| c.as_os_str().to_str()).collect();
    Some(parts?.join("/"))
}

/// Removes one planned local file if it still has the size and mtime the plan saw (the stat
/// and the unlink are as close as POSIX allows: there is no conditional unlink).
fn delete_local(root: &Path, path: &Path, seen: (u64, Option<i64>), out: &mut DeletionOutcome) {
    let shown = path.display().to_string();
    if !path.starts_with(root) {
        let e = Error::UnsafeKey { key: shown.clone(), reason: "path is outside the sync directory".into() };
        return out.failed.push((shown, e.info()));
    }
    let parent = path.parent().unwrap_or(root);
    if let Err(e) = ensure_no_symlink_escape(root, parent) {
        return out.failed.push((shown, e.info()));
    }
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return out.skipped.push((shown, "already gone".into())),
        Err(e) => return out.failed.push((shown, Error::io(path, e).info())),
        Ok(_) => {}
    }
    // Followed, as the walk that planned it followed a symlinked file.
    let now = std::fs::metadata(path).ok().map(|m| (m.len(), mtime_nanos(&m)));
    if now != Some(seen) {
        let (size, _) = now.unwrap_or((0, None));
        let note = match now {
            None => "changed since the plan (no longer a readable file)".to_string(),
            Some(n) if n.0 != seen.0 => format!("changed since the plan ({} bytes then, {size} now)", seen.0),
            Some(_) => "changed since the plan (modified since)".to_string(),
        };
        return out.skipped.push((shown, note));
    }
    match std::fs::remove_file(path) {
        Ok(()) => out.deleted += 1,
        Err(e) => out.failed.push((shown, Error::io(path, e).info())),
    }
}

fn local_metadata(local: &Path) -> Result<std::fs::Metadata> {
    std::fs::metadata(local).map_err(|e| Error::io(local, e))
}

/// Modification time in nanoseconds since the epoch (`None` before 1970 or after 2262).
fn mtime_nanos(m: &std::fs::Metadata) -> Option<i64> {
    let d = m.modified().ok()?.duration_since(std::time::UNIX_EPOCH).ok()?;
    i64::try_from(d.as_nanos()).ok()
}

fn mtime_secs(m: &std::fs::Metadata) -> Option<i64> {
    let t = m.modified().ok()?;
    let d = t.duration_since(std::time::UNIX_EPOCH).ok()?;
    i64::try_from(d.as_secs()).ok()
}

fn not_utf8(path: &Path) -> Error {
    Error::LocalIo { path: path.to_path_buf(), source: std::io::Error::new(std::io::ErrorKind::InvalidData, "file name is not valid UTF-8") }
}

/// `--include` / `--exclude` globs on `/`-separated relative paths; `*` does not cross `/`.
#[derive(Debug)]
pub struct PathFilter {
    include: Option<GlobSet>,
    exclude: GlobSet,
}

impl PathFilter {
    /// Compiles the globs; a malformed glob is a usage error naming it.
    pub fn new(include: &[String], exclude: &[String]) -> Result<Self> {
        let include = if include.is_empty() { None } else { Some(glob_set(include)?) };
        Ok(PathFilter { include, exclude: glob_set(exclude)? })
    }

    fn everything() -> Self {
        PathFilter { include: None, exclude: GlobSet::empty() }
    }

    /// True when `rel` is included and not excluded (exclude wins).
    pub fn allows(&self, rel: &str) -> bool {
        if self.exclude.is_match(rel) {
            return false;
        }
        self.include.as_ref().is_none_or(|inc| inc.is_match(rel))
    }
}

fn glob_set(globs: &[String]) -> Result<GlobSet> {
    let mut b = GlobSetBuilder::new();
    for g in globs {
        let glob = GlobBuilder::new(g)
            .literal_separator(true)
            .backslash_escape(true)
            .build()
            .map_err(|e| Error::Usage(format!("bad glob `{g}`: {e}")))?;
        b.add(glob);
    }
    b.build().map_err(|e| Error::Usage(format!("bad globs: {e}")))
}

// ---------------------------------------------------------------------------------------------
// Remote side

/// What planning needs of an existing object.
#[derive(Debug, Clone)]
struct RemoteObj {
    size: u64,
    mtime: Option<i64>,
    etag: Option<String>,
    /// A content reference standing for this key: its own key and size (`refs_as_logical`).
    stored_as: Option<String>,
    stored_size: Option<u64>,
}

impl From<&aws_sdk_s3::types::Object> for RemoteObj {
    fn from(o: &aws_sdk_s3::types::Object) -> Self {
        RemoteObj {
            size: o.size().unwrap_or(0).max(0) as u64,
            mtime: o.last_modified().map(|t| t.secs()),
            etag: o.e_tag().map(str::to_string),
            stored_as: None,
            stored_size: None,
        }
    }
}

/// Every object under `prefix`, by full key: one map entry per key, pages streamed.
async fn remote_index(conn: &Connection, bucket: &str, prefix: &str) -> Result<HashMap<String, RemoteObj>> {
    let mut map = HashMap::new();
    let mut pages = list_pages!(conn, bucket, prefix);
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| map_sdk_error(e, &conn.ctx().bucket(bucket)))?;
        for o in page.contents() {
            if let Some(k) = o.key() {
                map.insert(k.to_string(), RemoteObj::from(o));
            }
        }
    }
    Ok(map)
}

/// HEAD of one key: `None` when it does not exist.
async fn head(conn: &Connection, bucket: &str, key: &str) -> Result<Option<RemoteObj>> {
    match conn.client.head_object().bucket(bucket).key(key).send().await {
        Ok(h) => Ok(Some(RemoteObj {
            size: h.content_length().unwrap_or(0).max(0) as u64,
            mtime: h.last_modified().map(|t| t.secs()),
            etag: h.e_tag().map(str::to_string),
            stored_as: None,
            stored_size: None,
        })),
        Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => {
            // HEAD has no body: a missing bucket also answers 404. Tell them apart cheaply.
            match conn.client.head_bucket().bucket(bucket).send().await {
                Err(b) if b.raw_response().is_some_and(|r| r.status().as_u16() == 404) => Err(Error::NoSuchBucket(bucket.into())),
                _ => Ok(None),
            }
        }
        Err(e) => Err(map_sdk_error(e, &conn.ctx().bucket(bucket))),
    }
}

async fn delete_batch(conn: &Connection, bucket: &str, keys: &[&str], out: &mut DeletionOutcome) -> Result<()> {
    let failed = crate::s3::delete::delete_batch(conn, bucket, keys).await?;
    out.deleted += (keys.len() - failed.len()) as u64;
    out.failed.extend(failed.into_iter().map(|(k, e)| (k, e.info())));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn star_does_not_cross_slash_and_exclude_wins() {
        let f = PathFilter::new(&["*.pt".into(), "**/*.bin".into()], &["tmp/**".into()]).unwrap();
        assert!(f.allows("model.pt"));
        assert!(!f.allows("a/model.pt"), "* must not cross /");
        assert!(f.allows("a/b/w.bin"));
        assert!(!f.allows("tmp/w.bin"), "exclude wins over include");
        assert!(!f.allows("notes.txt"));
    }

    #[test]
    fn a_key_listed_outside_the_prefix_is_never_a_victim_nor_a_panic() {
        let obj = |size| RemoteObj { size, mtime: None, etag: Some("\"e\"".into()), stored_as: None, stored_size: None };
        let remote: HashMap<String, RemoteObj> =
            [("runs/a/x.bin".to_string(), obj(3)), ("ru".to_string(), obj(1)), ("other/y".to_string(), obj(2)), ("runs/a/dir/".to_string(), obj(0))].into();
        let v = remote_victims(remote, "b", "runs/a/", &PathFilter::everything());
        assert_eq!(v, [Deletion::SeenObject { bucket: "b".into(), key: "runs/a/x.bin".into(), size: 3, etag: Some("\"e\"".into()) }]);
    }

    #[test]
    fn no_include_means_everything_not_excluded() {
        let f = PathFilter::new(&[], &["*.log".into()]).unwrap();
        assert!(f.allows("a/b.txt"));
        assert!(!f.allows("x.log"));
        assert!(f.allows("d/x.log"));
    }

    #[test]
    fn bad_glob_is_a_usage_error() {
        assert!(matches!(PathFilter::new(&["a[".into()], &[]), Err(Error::Usage(_))));
    }

    #[test]
    fn skip_rules_compare_size_and_time() {
        assert!(SkipRule::SameSize.reason((5, None), (5, None)).is_some());
        assert!(SkipRule::SameSize.reason((5, None), (6, None)).is_none());
        assert!(SkipRule::Never.reason((5, None), (5, None)).is_none());
        let r = SkipRule::SameSizeNotNewer;
        assert!(r.reason((5, Some(10)), (5, Some(10))).is_some());
        assert!(r.reason((5, Some(11)), (5, Some(10))).is_none(), "newer source is transferred");
        assert!(r.reason((5, None), (5, Some(10))).is_none());
    }

    #[test]
    fn names_that_collide_by_case_or_normalisation_are_all_refused() {
        let mut job = TransferJob::new(Direction::Download, "b", "/d");
        let names = ["Model.pt", "model.pt", "caf\u{e9}.txt", "cafe\u{301}.txt", "other.txt"];
        let listed: HashSet<PathBuf> = names.iter().map(|n| PathBuf::from("/d").join(n)).collect();
        for n in names {
            job.items.push(TransferItem { local: PathBuf::from("/d").join(n), key: n.to_string(), size: 1, etag: None, write_if: None });
        }
        reject_name_collisions(&mut job, &listed);
        assert_eq!(job.items.iter().map(|i| i.key.as_str()).collect::<Vec<_>>(), ["other.txt"]);
        assert_eq!(job.rejected.len(), 4);
        assert!(job.rejected.iter().all(|(_, e)| e.code == "name_collision"), "{:?}", job.rejected);
        let model = job.rejected.iter().find(|(k, _)| k == "Model.pt").unwrap();
        assert!(model.1.message.contains("model.pt"), "names the other key: {}", model.1.message);
    }

    #[test]
    fn walk_maps_contents_and_skips_dir_links() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("a/b")).unwrap();
        std::fs::write(d.path().join("a/b/x y.bin"), b"12").unwrap();
        std::fs::write(d.path().join("top.txt"), b"").unwrap();
        std::os::unix::fs::symlink(d.path().join("a"), d.path().join("linkdir")).unwrap();
        std::os::unix::fs::symlink(d.path().join("top.txt"), d.path().join("linkfile")).unwrap();
        let mut job = TransferJob::new(Direction::Upload, "b", d.path());
        let files = walk_local(d.path(), &PathFilter::everything(), &mut job);
        let rels: Vec<_> = files.iter().map(|f| f.rel.as_str()).collect();
        assert_eq!(rels, ["a/b/x y.bin", "linkfile", "top.txt"]);
        assert_eq!(job.skipped.len(), 1, "{:?}", job.skipped);
    }
}
