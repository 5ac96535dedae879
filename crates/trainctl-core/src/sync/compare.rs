//! The content comparisons a plan needs: is the local file the same bytes as the object (both
//! sides changed, or a first pass found both), and is a touched file still what it was.
//!
//! Only those paths are read; a plain-MD5 ETag needs no request, a multipart ETag one
//! `HEAD ?partNumber=1` for its part size. When the ETag cannot be recomputed (SSE-KMS, an
//! opaque ETag) the answer is "different": a conflict is shown rather than a change dropped.

use super::diff::Change;
use super::plan::{step, Compared, Step};
use crate::s3::Connection;
use crate::transfer::safe_path::local_path_for_key;
use crate::transfer::verify::{self, etag_kind, EtagKind, Expectation};
use futures::StreamExt;
use std::path::Path;

/// Paths compared at once.
const PARALLEL: usize = 8;

/// Compares what the steps of `changes` need compared.
pub async fn compare<'a>(conn: &Connection, bucket: &str, prefix: &str, root: &Path, changes: &[Change<'a>]) -> Compared<'a> {
    let wanted: Vec<&Change> = changes.iter().filter(|c| !c.is_dir() && matches!(step(c), Step::Compare | Step::Touched)).collect();
    // By index: a closure over `&Change` items trips the `Send` check of spawned passes.
    let wanted = &wanted;
    let results: Vec<(&'a str, bool, Option<String>)> = futures::stream::iter(0..wanted.len())
        .map(|i| async move {
            let c = wanted[i];
            let (eq, md5) = compare_one(conn, bucket, prefix, root, c).await;
            (c.path, eq, md5)
        })
        .buffer_unordered(PARALLEL)
        .collect()
        .await;
    let mut out = Compared::default();
    for (path, eq, md5) in results {
        if let Some(m) = md5 {
            out.local_md5.insert(path, m);
        }
        out.equal.insert(path, eq);
    }
    out
}

/// Equal?, and the local file's plain MD5 when it was computed.
async fn compare_one(conn: &Connection, bucket: &str, prefix: &str, root: &Path, c: &Change<'_>) -> (bool, Option<String>) {
    let Some(local) = c.local else { return (false, None) };
    let Ok(path) = local_path_for_key(root, "", c.path) else { return (false, None) };
    if step(c) == Step::Touched {
        let want = c.base.and_then(|b| b.0.md5.clone());
        let md5 = verify::md5_etag_of_file_async(&path, None).await.ok();
        return (md5.is_some() && md5 == want, md5);
    }
    let Some(remote) = c.remote else { return (false, None) };
    if local.size != remote.size {
        return (false, None);
    }
    match etag_kind(Some(&remote.etag)) {
        EtagKind::Md5(m) => {
            let md5 = match &local.md5 {
                Some(known) => Some(known.clone()),
                None => verify::md5_etag_of_file_async(&path, None).await.ok(),
            };
            (md5.as_deref() == Some(m.as_str()), md5)
        }
        EtagKind::Multipart { .. } => match verify::expectation(conn, bucket, &format!("{prefix}{}", c.path), None, remote.size, Some(&remote.etag), false).await {
            Expectation::Multipart { etag, part_size, .. } => {
                let mine = verify::md5_etag_of_file_async(&path, Some(part_size)).await.ok();
                (mine.as_deref() == Some(etag.as_str()), None)
            }
            _ => (false, None),
        },
        EtagKind::Opaque => (false, None),
    }
}
