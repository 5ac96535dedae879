//! DeleteObjects: the one place that turns keys into delete calls and per-key failures, so every
//! caller (checkpoint cleanup, `sync --delete`, the Browser's delete, rename) reports a refused key
//! the same way.

use super::errors::SdkResultExt;
use super::Connection;
use crate::error::{Error, Result};

/// Keys per DeleteObjects call (the S3 limit).
pub const BATCH: usize = 1000;

/// Deletes at most [`BATCH`] keys in one call. `Ok` holds the keys the store refused, each with
/// why; `Err` means the call itself failed and nothing can be assumed deleted.
pub async fn delete_batch<K: AsRef<str>>(conn: &Connection, bucket: &str, keys: &[K]) -> Result<Vec<(String, Error)>> {
    use aws_sdk_s3::types::{Delete, ObjectIdentifier};
    debug_assert!(keys.len() <= BATCH);
    let objects = keys
        .iter()
        .map(|k| ObjectIdentifier::builder().key(k.as_ref()).build().map_err(|e| Error::Internal(e.to_string())))
        .collect::<Result<Vec<_>>>()?;
    let delete = Delete::builder().set_objects(Some(objects)).quiet(true).build().map_err(|e| Error::Internal(e.to_string()))?;
    let res = conn.client.delete_objects().bucket(bucket).delete(delete).send().await.or_s3(&conn.ctx().bucket(bucket))?;
    Ok(res
        .errors()
        .iter()
        .map(|e| {
            let key = e.key().unwrap_or_default();
            (key.to_string(), per_key_error(e.code().unwrap_or("Error"), e.message().unwrap_or_default(), bucket, key))
        })
        .collect())
}

/// Deletes every key, batch by batch; the first refused key or failed call stops it with that error.
pub async fn delete_all<K: AsRef<str>>(conn: &Connection, bucket: &str, keys: &[K]) -> Result<()> {
    for chunk in keys.chunks(BATCH) {
        if let Some((_, e)) = delete_batch(conn, bucket, chunk).await?.into_iter().next() {
            return Err(e);
        }
    }
    Ok(())
}

/// A DeleteObjects per-key error in the user's terms (AccessDenied keeps its own variant).
fn per_key_error(code: &str, message: &str, bucket: &str, key: &str) -> Error {
    match code {
        "AccessDenied" => Error::AccessDenied(format!("delete s3://{bucket}/{key}: {message}")),
        _ => Error::S3 { code: code.to_string(), message: format!("{key}: {message}") },
    }
}
