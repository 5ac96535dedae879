//! Snapshots: what a prefix or a local folder holds now, as a [`Manifest`].
//!
//! From S3: one listing (ListObjectVersions on a versioned bucket, to pin each file's version
//! id; ListObjectsV2 elsewhere), plus one `HEAD ?partNumber=1` per multipart object to learn its
//! part size (so a local copy can be re-hashed into the same ETag). From a folder: a walk and an
//! MD5 of every file on all cores (through the hash cache).

use super::local::{self, HashKind};
use super::manifest::{Entry, Manifest, StoredChecksum};
use crate::error::{Error, Result};
use crate::event::{Event, Progress, Sink};
use crate::s3::errors::SdkResultExt;
use crate::s3::{Connection, S3Url};
use crate::transfer::verify::{etag_kind, EtagKind};
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

/// The entries under `src` (relative keys), skipping directory markers and anything under
/// `skip_prefix` (the manifest store, when it lies inside the dataset). Progress as
/// [`Event::Progress`] of `job` with the running counts.
pub async fn list_entries(conn: &Connection, src: &S3Url, skip_prefix: Option<&str>, versioned: bool, job: u64, sink: &dyn Sink) -> Result<Vec<Entry>> {
    crate::s3::list::check_bucket(conn, &src.bucket).await?;
    let prefix = src.dir_prefix();
    let marker = |key: &str, size: u64| key.ends_with('/') && size == 0;
    let keep = |key: &str, size: u64| !marker(key, size) && skip_prefix.is_none_or(|p| !key.starts_with(p));
    let mut out = Vec::new();
    let mut bytes = 0u64;
    let report = |n: usize, bytes: u64| sink.send(Event::Progress(Progress { job, objects_done: n as u64, bytes_done: bytes, ..Progress::default() }));
    if versioned {
        for v in crate::s3::versions::list_versions(conn, &src.bucket, &prefix).await? {
            if v.is_latest && !v.delete_marker && keep(&v.key, v.size) {
                let key = v.key.strip_prefix(&prefix).unwrap_or(&v.key).to_string();
                bytes += v.size;
                out.push(Entry { key, size: v.size, etag: v.etag, part_size: None, checksum: None, version_id: v.version_id });
            }
        }
    } else {
        let mut stream = crate::s3::list::list_objects(conn, &src.bucket, &prefix, None);
        while let Some(o) = stream.try_next().await? {
            if keep(&o.key, o.size) {
                let key = o.key.strip_prefix(&prefix).unwrap_or(&o.key).to_string();
                bytes += o.size;
                out.push(Entry { key, size: o.size, etag: o.etag, part_size: None, checksum: None, version_id: None });
                if out.len() % 1000 == 0 {
                    report(out.len(), bytes);
                }
            }
        }
    }
    report(out.len(), bytes);
    Ok(out)
}

/// Snapshots an S3 prefix.
pub async fn snapshot_s3(conn: &Connection, src: &S3Url, name: &str, version: &str, skip_prefix: Option<&str>, job: u64, sink: &dyn Sink) -> Result<Manifest> {
    let versioned = is_versioned(conn, &src.bucket).await?;
    let mut entries = list_entries(conn, src, skip_prefix, versioned, job, sink).await?;
    if entries.is_empty() {
        return Err(Error::NotFound(src.to_string()));
    }
    learn_part_sizes(conn, src, &mut entries).await;
    Manifest::new(name, version, format!("s3://{}/{}", src.bucket, src.dir_prefix()), versioned, entries)
}

/// One `HEAD ?partNumber=1` (checksum mode on) per multipart object: its part size, and the
/// store's checksum when it keeps one. A store that does not answer leaves the entry as listed.
async fn learn_part_sizes(conn: &Connection, src: &S3Url, entries: &mut [Entry]) {
    let prefix = src.dir_prefix();
    let wanted: Vec<usize> = entries.iter().enumerate().filter(|(_, e)| matches!(etag_kind(e.etag.as_deref()), EtagKind::Multipart { parts, .. } if parts > 1)).map(|(i, _)| i).collect();
    let entries_ro = &*entries;
    let learnt: Vec<(usize, Option<u64>, Option<StoredChecksum>)> = futures::stream::iter(wanted)
        .map(|i| {
            let e = &entries_ro[i];
            let key = format!("{prefix}{}", e.key);
            let req = conn.client.head_object().bucket(&src.bucket).key(key).part_number(1).checksum_mode(aws_sdk_s3::types::ChecksumMode::Enabled).set_version_id(e.version_id.clone());
            async move {
                match req.send().await.or_s3(&conn.ctx()) {
                    Ok(h) => {
                        let ps = h.content_length().filter(|l| *l > 0).map(|l| l as u64).filter(|ps| *ps < e.size);
                        let sum = [("CRC64NVME", h.checksum_crc64_nvme()), ("SHA256", h.checksum_sha256()), ("CRC32C", h.checksum_crc32_c()), ("CRC32", h.checksum_crc32()), ("SHA1", h.checksum_sha1())]
                            .into_iter()
                            .find_map(|(a, v)| v.map(|v| StoredChecksum { algorithm: a.into(), value: v.to_string() }));
                        (i, ps, sum)
                    }
                    Err(_) => (i, None, None),
                }
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    for (i, ps, sum) in learnt {
        entries[i].part_size = ps;
        entries[i].checksum = sum;
    }
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
        entries.push(Entry { key: f.rel, size: f.size, etag: h?, part_size: None, checksum: None, version_id: None });
    }
    Manifest::new(name, version, root.display().to_string(), false, entries)
}
