//! Snapshots: what a prefix or a local folder holds now, as a [`Manifest`].
//!
//! From S3: one listing (ListObjectVersions on a versioned bucket, to pin each file's version
//! id; ListObjectsV2 elsewhere) or an S3 Inventory report (`super::inventory`), plus one
//! `HEAD ?partNumber=1` per multipart object to learn its part size (so a local copy can be
//! re-hashed into the same ETag). Entries stream into the manifest file as they are listed. From a folder: a walk and an
//! MD5 of every file on all cores (through the hash cache).

use super::local::{self, HashKind};
use super::manifest::{Encoded, Entry, Manifest, StoredChecksum, Writer};
use crate::error::{Error, Result};
use crate::event::{Event, Progress, Sink};
use crate::s3::errors::SdkResultExt;
use crate::s3::{Connection, S3Url};
use crate::transfer::verify::{etag_kind, EtagKind};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use std::path::Path;

/// Whether versioning is enabled on `bucket` (a store that does not implement the call counts as
/// unversioned).
pub async fn is_versioned(conn: &Connection, bucket: &str) -> Result<bool> {
    match conn.client.get_bucket_versioning().bucket(bucket).send().await {
        Ok(out) => Ok(out.status().is_some_and(|s| s.as_str() == "Enabled")),
        // moto answers a 200 the SDK cannot parse: read the status from the body itself.
        Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 200) => {
            let body = e.raw_response().and_then(|r| r.body().bytes()).map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default();
            Ok(body.contains("<Status>Enabled</Status>"))
        }
        Err(e) if e.raw_response().is_some_and(|r| matches!(r.status().as_u16(), 400 | 404 | 501)) => {
            let err = crate::s3::errors::map_sdk_error(e, &conn.ctx().bucket(bucket));
            if matches!(err, Error::NoSuchBucket(_)) { Err(err) } else { Ok(false) }
        }
        Err(e) => Err(crate::s3::errors::map_sdk_error(e, &conn.ctx().bucket(bucket))),
    }
}

/// Whether a listed key belongs in a snapshot: not a directory marker, not under `skip` (the
/// manifest store, when it lies inside the dataset).
pub(crate) fn keep(key: &str, size: u64, skip: Option<&str>) -> bool {
    !(key.ends_with('/') && size == 0) && skip.is_none_or(|p| !key.starts_with(p))
}

/// The entry of a listed object (its key relative to `prefix`).
fn entry(prefix: &str, key: &str, size: u64, etag: Option<String>, version_id: Option<String>) -> Entry {
    Entry { key: key.strip_prefix(prefix).unwrap_or(key).to_string(), size, etag, part_size: None, checksum: None, version_id, content: None, codec: None, stored_size: None }
}

/// The files under `src` as entries (relative keys), streamed page by page in key order: S3
/// lists keys in UTF-8 binary order, which is `str`'s; content references are read as the
/// files they stand for (`super::refs::resolved`).
pub fn listed(conn: &Connection, src: &S3Url, skip_prefix: Option<&str>) -> BoxStream<'static, Result<Entry>> {
    let prefix = src.dir_prefix();
    let skip = skip_prefix.map(str::to_string);
    let objects = crate::s3::list::list_objects(conn, &src.bucket, &prefix, None)
        .try_filter_map({
            let prefix = prefix.clone();
            move |o| {
                let e = keep(&o.key, o.size, skip.as_deref()).then(|| entry(&prefix, &o.key, o.size, o.etag, None));
                futures::future::ready(Ok(e))
            }
        })
        .boxed();
    super::refs::resolved(conn, &src.bucket, &prefix, objects)
}

/// The latest versions under `src` (not delete markers), pinned at their version ids, streamed
/// page by page like [`listed`] (a reference pinned at its content object's version).
fn listed_versions(conn: &Connection, src: &S3Url, skip_prefix: Option<&str>) -> BoxStream<'static, Result<Entry>> {
    let prefix = src.dir_prefix();
    let skip = skip_prefix.map(str::to_string);
    let versions = crate::s3::versions::version_stream(conn, &src.bucket, &prefix)
        .try_filter_map({
            let prefix = prefix.clone();
            move |v| {
                let e = (v.is_latest && !v.delete_marker && keep(&v.key, v.size, skip.as_deref())).then(|| entry(&prefix, &v.key, v.size, v.etag, v.version_id));
                futures::future::ready(Ok(e))
            }
        })
        .boxed();
    super::refs::resolved(conn, &src.bucket, &prefix, versions)
}

/// Snapshots an S3 prefix from a listing: entries stream from the listing into the manifest file
/// (memory flat in the number of keys).
pub async fn snapshot_s3(conn: &Connection, src: &S3Url, name: &str, version: &str, skip_prefix: Option<&str>, job: u64, sink: &dyn Sink) -> Result<Encoded> {
    let versioned = is_versioned(conn, &src.bucket).await?;
    crate::s3::list::check_bucket(conn, &src.bucket).await?;
    let entries = if versioned { listed_versions(conn, src, skip_prefix) } else { listed(conn, src, skip_prefix) };
    let w = write_entries(conn, src, entries, job, sink).await?;
    if w.files() == 0 {
        return Err(Error::NotFound(src.to_string()));
    }
    w.finish(name, version, format!("s3://{}/{}", src.bucket, src.dir_prefix()), versioned)
}

/// Sorted entries into a [`Writer`], each multipart object's part size learnt on the way (at
/// most 16 HEADs in flight, order kept). Progress every 1000 entries.
pub(crate) async fn write_entries(conn: &Connection, src: &S3Url, entries: BoxStream<'_, Result<Entry>>, job: u64, sink: &dyn Sink) -> Result<Writer> {
    let prefix = src.dir_prefix();
    let mut entries = entries.map_ok(|e| learn_part_size(conn, &src.bucket, &prefix, e)).try_buffered(16);
    let mut w = Writer::new()?;
    let report = |w: &Writer| sink.send(Event::Progress(Progress { job, objects_done: w.files(), bytes_done: w.bytes(), ..Progress::default() }));
    while let Some(e) = entries.try_next().await? {
        w.push(&e)?;
        if w.files().is_multiple_of(1000) {
            report(&w);
        }
    }
    report(&w);
    Ok(w)
}

/// For a multipart object, one `HEAD ?partNumber=1` (checksum mode on): its part size (so a
/// local copy can be re-hashed into the same ETag), and the store's checksum when it keeps one.
/// A store that does not answer leaves the entry as listed.
async fn learn_part_size(conn: &Connection, bucket: &str, prefix: &str, mut e: Entry) -> Result<Entry> {
    if !matches!(etag_kind(e.etag.as_deref()), EtagKind::Multipart { parts, .. } if parts > 1) {
        return Ok(e);
    }
    let key = e.stored_key(prefix);
    let req = conn.client.head_object().bucket(bucket).key(key).part_number(1).checksum_mode(aws_sdk_s3::types::ChecksumMode::Enabled).set_version_id(e.version_id.clone());
    if let Ok(h) = req.send().await.or_s3(&conn.ctx()) {
        e.part_size = h.content_length().filter(|l| *l > 0).map(|l| l as u64).filter(|ps| *ps < e.size);
        let stored = [("CRC64NVME", h.checksum_crc64_nvme()), ("SHA256", h.checksum_sha256()), ("CRC32C", h.checksum_crc32_c()), ("CRC32", h.checksum_crc32()), ("SHA1", h.checksum_sha1())]
            .into_iter()
            .find_map(|(a, v)| v.map(|v| StoredChecksum { algorithm: a.into(), value: v.to_string() }));
        // A reference keeps its own CRC64NVME: the content's, which staging checks.
        if e.content.is_none() {
            e.checksum = stored;
        }
    }
    Ok(e)
}

/// Snapshots a local folder: every file's size and MD5 (hashed on all cores, cached).
pub async fn snapshot_local(root: &Path, name: &str, version: &str, job: u64, sink: &dyn Sink) -> Result<Manifest> {
    let root = root.canonicalize().map_err(|e| Error::io(root, e))?;
    let (files, bad) = local::walk(&root)?;
    if let Some((what, e)) = bad.into_iter().next() {
        return Err(Error::LocalIo { path: root.join(&what), source: std::io::Error::other(e.to_string()) });
    }
    if files.is_empty() {
        return Err(Error::NotFound(root.display().to_string()));
    }
    let kinds = vec![Some(HashKind::Md5); files.len()];
    let (hashes, _) = local::hash_files(&root, files.clone(), kinds, job, sink).await?;
    let mut entries = Vec::with_capacity(files.len());
    for (f, h) in files.into_iter().zip(hashes) {
        entries.push(Entry { key: f.rel, size: f.size, etag: h?, part_size: None, checksum: None, version_id: None, content: None, codec: None, stored_size: None });
    }
    Manifest::new(name, version, root.display().to_string(), false, entries)
}
