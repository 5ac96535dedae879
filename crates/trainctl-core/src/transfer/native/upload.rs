//! Uploads: one `PutObject` below the part size, a resumable multipart upload above it.
//!
//! Parts are streamed from the open file ([`body`](super::body)), never buffered whole. A
//! multipart upload is completed only when every part is on the server and the file is still
//! what it was when the upload started (size + mtime on the open handle); no partial or mixed
//! object is ever visible under the key.
//!
//! **Checksums.** Where the store keeps them ([`UploadChecksum`](crate::transfer::UploadChecksum),
//! from the provider's quirks: CRC64NVME on AWS and Garage), every upload carries a full-object
//! CRC, so later downloads verify by a CRC instead of MD5. The CRC of each request's bytes is
//! read from the file just before they are sent and goes ahead of them as a header (Garage
//! refuses part bodies whose checksum only comes as a trailer), so a store that checks it
//! refuses bytes that differ from what was hashed ([`Error::ChecksumRejected`]). A multipart
//! upload is created `FULL_OBJECT`; its completion carries the combination of the part CRCs.
//!
//! When it fails: on cancellation or a connection-level failure (endpoint unreachable, timeout,
//! a broken stream) the upload is left open with its resume state, so the next run sends only
//! the missing parts; on any other failure (the file changed, the server refused a part, no
//! permission) resuming could not help, so the upload is aborted and its state removed. A single
//! PUT whose file changed while it was sent is deleted again.

use super::body::{file_range_body, SourceFile, Spread};
use super::resume::{self, DonePart, UploadIdent, UploadState};
use super::{effective_part_size, sdk, Ctx};
use crate::error::{Error, Result, Scope};
use crate::transfer::checksum::{Algorithm, Cut, Piece, Recipe};
use crate::transfer::{verify, TransferItem, WriteIf};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::list_parts::ListPartsOutput;
use aws_smithy_runtime_api::http::Response as HttpResponse;
use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumType, CompletedMultipartUpload, CompletedPart, StorageClass};
use crate::s3::network::data_op_timeouts;
use futures::{StreamExt, TryStreamExt};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

/// Sets the `x-amz-checksum-*` value of `algorithm` on any request builder that has them
/// (PutObject, UploadPart, CompletedPart, CompleteMultipartUpload).
macro_rules! with_checksum {
    ($builder:expr, $algorithm:expr, $value:expr) => {{
        let b = $builder;
        match ($algorithm, $value) {
            (Some(Algorithm::Crc64Nvme), Some(v)) => b.checksum_crc64_nvme(v),
            (Some(Algorithm::Crc32c), Some(v)) => b.checksum_crc32_c(v),
            (Some(Algorithm::Crc32), Some(v)) => b.checksum_crc32(v),
            (Some(Algorithm::Sha256), Some(v)) => b.checksum_sha256(v),
            _ => b,
        }
    }};
}

pub(super) mod compressed;

/// The SDK's name of `a` (sent as `x-amz-sdk-checksum-algorithm`, which moto reads).
fn sdk_algorithm(a: Algorithm) -> Option<ChecksumAlgorithm> {
    match a {
        Algorithm::Crc64Nvme => Some(ChecksumAlgorithm::Crc64Nvme),
        Algorithm::Crc32c => Some(ChecksumAlgorithm::Crc32C),
        Algorithm::Crc32 => Some(ChecksumAlgorithm::Crc32),
        Algorithm::Sha256 => Some(ChecksumAlgorithm::Sha256),
        Algorithm::Md5 => None,
    }
}

/// The checksum of `len` bytes of `src` from `offset`, computed on a blocking thread. A part
/// or a small file (`Spread::Here`, one of many in flight) first takes one of the process's
/// hashing slots (one per core), so the parts share the cores instead of each starting
/// threads of its own; a range hashed alone (`Spread::Cores`) fans out over the cores.
async fn checksum_of(src: &Arc<SourceFile>, algorithm: Algorithm, offset: u64, len: u64, spread: Spread) -> Result<String> {
    let _slot = match spread {
        Spread::Here => Some(verify::hashing_slot().await?),
        Spread::Cores => None,
    };
    let src = src.clone();
    tokio::task::spawn_blocking(move || src.checksum(algorithm, offset, len, spread)).await.map_err(|e| Error::Internal(format!("checksum task: {e}")))?
}

/// Uploads one file to `ctx.job.bucket`/`item.key`; returns the new object's ETag.
pub(super) async fn upload(ctx: &Ctx<'_>, item: &TransferItem) -> Result<Option<String>> {
    if let Some(planned) = ctx.job.compress.get(&item.key) {
        return compressed::upload(ctx, item, planned).await;
    }
    let src = Arc::new(SourceFile::open(&item.local)?);
    let size = src.size;
    let part_size = effective_part_size(ctx.opts.part_size, size);
    let checksum = ctx.opts.upload_checksum.resolve(&ctx.conn.profile.provider).filter(|a| a.combinable());
    let result = if size < part_size {
        put_single(ctx, item, &src, checksum).await
    } else {
        let local = std::fs::canonicalize(&item.local).map_err(|e| Error::io(&item.local, e))?;
        let ident = UploadIdent { endpoint: ctx.endpoint(), bucket: ctx.job.bucket.clone(), key: item.key.clone(), local, size, mtime_ns: src.mtime_ns };
        multipart(ctx, item, &src, ident, part_size, checksum).await
    };
    // A request that failed because the file changed under it reports the change, not the
    // transport error the broken body surfaced as.
    result.map_err(|e| match (&e, src.check_unchanged()) {
        (Error::Cancelled, _) | (_, Ok(())) => e,
        (_, Err(changed)) => changed,
    })
}

/// Whether a failed multipart upload stays open for the next run to resume: after a cancel, a
/// connection-scope failure (unreachable, timeout, DNS, TLS) or a broken stream, yes; otherwise
/// resuming cannot help and it is aborted.
fn keeps_resume_state(e: &Error) -> bool {
    e.scope() == Scope::Connection || matches!(e, Error::Cancelled | Error::Interrupted { .. })
}

fn storage_class(ctx: &Ctx<'_>) -> Option<StorageClass> {
    ctx.job.storage_class.as_deref().map(StorageClass::from)
}

/// How `item.write_if` is enforced on this store: request headers `(If-None-Match, If-Match)`
/// where the provider honours them, otherwise a HEAD right before the write (`true`).
fn write_conditions(ctx: &Ctx<'_>, item: &TransferItem) -> (Option<String>, Option<String>, bool) {
    let q = crate::config::quirks::get_or_other(&ctx.conn.profile.provider);
    match &item.write_if {
        None | Some(WriteIf::FileIs { .. }) => (None, None, false),
        Some(WriteIf::Absent) if q.conditional_put => (Some("*".into()), None, false),
        Some(WriteIf::ObjectIs { etag }) if q.conditional_overwrite => (None, Some(etag.clone()), false),
        Some(_) => (None, None, true),
    }
}

/// The HEAD that stands in for a conditional write: the key is still what `item.write_if`
/// says, else [`Error::RemoteChanged`].
async fn ensure_destination_unchanged(ctx: &Ctx<'_>, item: &TransferItem) -> Result<()> {
    let expected = match &item.write_if {
        Some(WriteIf::Absent) => None,
        Some(WriteIf::ObjectIs { etag }) => Some(etag.as_str()),
        None | Some(WriteIf::FileIs { .. }) => return Ok(()),
    };
    let head = ctx.conn.client.head_object().bucket(&ctx.job.bucket).key(&item.key).send().await;
    let now = match head {
        Ok(h) => h.e_tag().map(str::to_string),
        Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => None,
        Err(e) => return Err(sdk::map(e, ctx.conn, &ctx.job.bucket, &item.key)),
    };
    let same = match (expected, now.as_deref()) {
        (None, None) => true,
        (Some(want), Some(have)) => want.trim_matches('"') == have.trim_matches('"'),
        _ => false,
    };
    if same { Ok(()) } else { Err(remote_changed(ctx, item)) }
}

fn remote_changed(ctx: &Ctx<'_>, item: &TransferItem) -> Error {
    Error::RemoteChanged { bucket: ctx.job.bucket.clone(), key: item.key.clone() }
}

/// A refused conditional write (412) is a concurrent change, not a broken transfer.
fn map_write<E>(ctx: &Ctx<'_>, item: &TransferItem, e: SdkError<E, HttpResponse>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    if item.write_if.is_some() && e.raw_response().is_some_and(|r| r.status().as_u16() == 412) {
        return remote_changed(ctx, item);
    }
    sdk::map(e, ctx.conn, &ctx.job.bucket, &item.key)
}

/// One PutObject streamed from the file. The body's last frame is released only if the file
/// is unchanged; if it changed in the instant between that check and the server's answer, the
/// object just written is deleted again.
async fn put_single(ctx: &Ctx<'_>, item: &TransferItem, src: &Arc<SourceFile>, checksum: Option<Algorithm>) -> Result<Option<String>> {
    let _permit = ctx.permit().await?;
    let size = src.size;
    let (if_none_match, if_match, head_first) = write_conditions(ctx, item);
    if head_first {
        ensure_destination_unchanged(ctx, item).await?;
    }
    let value = match checksum {
        Some(a) => Some(checksum_of(src, a, 0, size, Spread::Here).await?),
        None => None,
    };
    let request = ctx.conn.client.put_object().set_checksum_algorithm(checksum.and_then(sdk_algorithm));
    let request = with_checksum!(request, checksum, value)
        .bucket(&ctx.job.bucket)
        .key(&item.key)
        .set_if_none_match(if_none_match)
        .set_if_match(if_match)
        .set_storage_class(storage_class(ctx))
        .set_metadata(ctx.job.metadata.get(&item.key).cloned())
        .content_length(size as i64)
        .body(file_range_body(src.clone(), 0, size, ctx.moved.clone()))
        .customize()
        .config_override(data_op_timeouts(&ctx.conn.client, size));
    let out = ctx.cancellable(async { request.send().await.map_err(|e| map_write(ctx, item, e)) }).await?;
    if let Err(changed) = src.check_unchanged() {
        let _ = ctx.conn.client.delete_object().bucket(&ctx.job.bucket).key(&item.key).send().await;
        return Err(changed);
    }
    ctx.stats.objects_put.fetch_add(1, Ordering::Relaxed);
    Ok(out.e_tag().map(str::to_string))
}

/// Size of part `number` (1-based) of an object of `size` bytes cut in `part_size` parts.
fn part_len(number: i32, part_size: u64, size: u64) -> u64 {
    let start = (number as u64 - 1) * part_size;
    part_size.min(size.saturating_sub(start))
}

async fn multipart(ctx: &Ctx<'_>, item: &TransferItem, src: &Arc<SourceFile>, ident: UploadIdent, part_size: u64, checksum: Option<Algorithm>) -> Result<Option<String>> {
    let state = resume_or_start(ctx, &ident, part_size, checksum).await?;
    let part_size = state.part_size;
    let count = ident.size.div_ceil(part_size) as i32;
    let have: Vec<i32> = state.parts.iter().map(|p| p.number).collect();
    let resumed: u64 = have.iter().map(|n| part_len(*n, part_size, ident.size)).sum();
    if !have.is_empty() {
        ctx.stats.parts_resumed.fetch_add(have.len() as u64, Ordering::Relaxed);
        ctx.add_bytes(resumed);
        ctx.notice(format!("resuming upload of s3://{}/{}: {} of {count} parts already on the server", ident.bucket, ident.key, have.len()));
    }
    let missing: Vec<i32> = (1..=count).filter(|n| !have.contains(n)).collect();
    let upload_id = state.upload_id.clone();
    let state = Mutex::new(state);
    let sent = futures::stream::iter(missing)
        .map(|n| upload_part(ctx, item, src, &upload_id, n, part_size, checksum, &state))
        .buffer_unordered(ctx.opts.concurrency.max(1))
        .try_collect::<Vec<()>>()
        .await;
    let mut state = state.into_inner().unwrap_or_else(|p| p.into_inner());
    let sent = match sent {
        Ok(_) => fill_part_checksums(src, &mut state, checksum).await,
        Err(e) => Err(e),
    };
    // The last checks before the object becomes visible: the file is still what was sent, and
    // (two-way sync) the key is still what the write is conditional on.
    let result = match sent.and_then(|_| src.check_unchanged()) {
        Ok(()) => match ensure_destination_unchanged(ctx, item).await {
            Ok(()) => complete(ctx, item, &upload_id, state.parts.clone(), checksum, ident.size, part_size).await,
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    let etag = match result {
        Ok(etag) => {
            resume::remove(&ident);
            etag
        }
        Err(e) if keeps_resume_state(&e) && src.check_unchanged().is_ok() => return Err(e),
        Err(e) => {
            abort_quietly(ctx, &state).await;
            resume::remove(&ident);
            ctx.stats.uploads_aborted.fetch_add(1, Ordering::Relaxed);
            return Err(e);
        }
    };
    Ok(etag)
}

/// Parts found on the server when resuming have no checksum recorded: computes theirs from the
/// (unchanged) file, so the completion can combine every part's.
async fn fill_part_checksums(src: &Arc<SourceFile>, state: &mut UploadState, checksum: Option<Algorithm>) -> Result<()> {
    let Some(a) = checksum else { return Ok(()) };
    for part in state.parts.iter_mut().filter(|p| p.checksum.is_none()) {
        let offset = (part.number as u64 - 1) * state.part_size;
        part.checksum = Some(checksum_of(src, a, offset, part_len(part.number, state.part_size, src.size), Spread::Here).await?);
    }
    Ok(())
}

/// Continues the upload recorded for `ident` if the server still has it, the file is
/// unchanged and it was created with the same checksum; otherwise aborts any stale upload and
/// starts a new one.
async fn resume_or_start(ctx: &Ctx<'_>, ident: &UploadIdent, part_size: u64, checksum: Option<Algorithm>) -> Result<UploadState> {
    if let Some(old) = resume::load(ident) {
        if old.ident.same_file(ident) && old.part_size >= super::MIN_PART_SIZE && old.checksum == checksum {
            match list_parts(ctx, &old).await {
                Ok(parts) => return Ok(UploadState { parts, ..old }),
                Err(Error::S3 { code, .. }) if code == sdk::NO_SUCH_UPLOAD => {}
                Err(e) => return Err(e),
            }
        } else {
            abort_quietly(ctx, &old).await;
        }
        resume::remove(ident);
    }
    start(ctx, ident, part_size, checksum).await
}

async fn start(ctx: &Ctx<'_>, ident: &UploadIdent, part_size: u64, checksum: Option<Algorithm>) -> Result<UploadState> {
    let request = ctx
        .conn
        .client
        .create_multipart_upload()
        .bucket(&ident.bucket)
        .key(&ident.key)
        .set_storage_class(storage_class(ctx))
        .set_metadata(ctx.job.metadata.get(&ident.key).cloned())
        .set_checksum_algorithm(checksum.and_then(sdk_algorithm))
        .set_checksum_type(checksum.map(|_| ChecksumType::FullObject));
    let out = ctx.cancellable(async { request.send().await.map_err(|e| sdk::map(e, ctx.conn, &ident.bucket, &ident.key)) }).await?;
    let upload_id = out.upload_id().ok_or_else(|| Error::Internal("CreateMultipartUpload returned no upload id".into()))?;
    let state = UploadState { ident: ident.clone(), upload_id: upload_id.to_string(), part_size, parts: Vec::new(), checksum };
    resume::save(&state)?;
    Ok(state)
}

/// The parts the server has for this upload, keeping only those of the expected size.
async fn list_parts(ctx: &Ctx<'_>, state: &UploadState) -> Result<Vec<DonePart>> {
    let id = &state.ident;
    let mut parts = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let request = ctx.conn.client.list_parts().bucket(&id.bucket).key(&id.key).upload_id(&state.upload_id).set_part_number_marker(marker.take());
        let page = match request.send().await {
            Ok(out) => PartsPage::from_output(&out),
            Err(e) => match e.raw_response().filter(|_| unreadable_ok(&e)).and_then(|r| r.body().bytes()) {
                Some(body) => PartsPage::from_xml(&String::from_utf8_lossy(body)),
                None => return Err(sdk::map(e, ctx.conn, &id.bucket, &id.key)),
            },
        };
        for (n, etag, len) in page.parts {
            if n >= 1 && len > 0 && len as u64 == part_len(n, state.part_size, id.size) {
                parts.push(DonePart { number: n, etag, checksum: None });
            }
        }
        marker = page.next_marker;
        if !page.truncated || marker.is_none() {
            return Ok(parts);
        }
    }
}

/// One page of `ListParts`: `(number, etag, size)` per part.
#[derive(Debug, PartialEq)]
struct PartsPage {
    parts: Vec<(i32, String, i64)>,
    truncated: bool,
    next_marker: Option<String>,
}

impl PartsPage {
    fn from_output(out: &ListPartsOutput) -> Self {
        let parts = out.parts().iter().filter_map(|p| Some((p.part_number()?, p.e_tag()?.to_string(), p.size()?))).collect();
        PartsPage { parts, truncated: out.is_truncated().unwrap_or(false), next_marker: out.next_part_number_marker().map(str::to_string) }
    }

    /// Reads a `200 OK` body the SDK refused (moto 5.2 names the root `ListPartsResponse`
    /// instead of `ListPartsResult`); only the few elements resume needs.
    fn from_xml(xml: &str) -> Self {
        let parts = xml
            .split("<Part>")
            .skip(1)
            .filter_map(|p| {
                let number = xml_text(p, "PartNumber")?.parse().ok()?;
                let etag = xml_text(p, "ETag")?.replace("&quot;", "\"").replace("&#34;", "\"");
                Some((number, etag, xml_text(p, "Size")?.parse().ok()?))
            })
            .collect();
        let truncated = xml_text(xml, "IsTruncated") == Some("true");
        PartsPage { parts, truncated, next_marker: xml_text(xml, "NextPartNumberMarker").map(str::to_string) }
    }
}

/// Text of the first `<tag>…</tag>` in `xml`.
fn xml_text<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let start = xml.find(&format!("<{tag}>"))? + tag.len() + 2;
    let end = start + xml[start..].find(&format!("</{tag}>"))?;
    Some(&xml[start..end])
}

#[allow(clippy::too_many_arguments)]
async fn upload_part(ctx: &Ctx<'_>, item: &TransferItem, src: &Arc<SourceFile>, upload_id: &str, number: i32, part_size: u64, checksum: Option<Algorithm>, state: &Mutex<UploadState>) -> Result<()> {
    let _permit = ctx.permit().await?;
    let len = part_len(number, part_size, src.size);
    let offset = (number as u64 - 1) * part_size;
    let value = match checksum {
        Some(a) => Some(checksum_of(src, a, offset, len, Spread::Here).await?),
        None => None,
    };
    let body = file_range_body(src.clone(), offset, len, ctx.moved.clone());
    let request = ctx.conn.client.upload_part().set_checksum_algorithm(checksum.and_then(sdk_algorithm));
    let request = with_checksum!(request, checksum, value.clone())
        .bucket(&ctx.job.bucket)
        .key(&item.key)
        .upload_id(upload_id)
        .part_number(number)
        .content_length(len as i64)
        .body(body)
        .customize()
        .config_override(data_op_timeouts(&ctx.conn.client, len));
    let out = ctx.cancellable(async { request.send().await.map_err(|e| sdk::map(e, ctx.conn, &ctx.job.bucket, &item.key)) }).await?;
    let etag = out.e_tag().ok_or_else(|| Error::Internal("UploadPart returned no ETag".into()))?;
    ctx.stats.parts_uploaded.fetch_add(1, Ordering::Relaxed);
    let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
    st.parts.push(DonePart { number, etag: etag.to_string(), checksum: value });
    resume::save(&st)
}

/// The full-object checksum of an upload from its parts' checksums, combined in order.
fn combined_checksum(parts: &[DonePart], algorithm: Algorithm, size: u64, part_size: u64) -> Option<String> {
    use base64::Engine as _;
    let pieces = parts
        .iter()
        .map(|p| {
            let digest = base64::engine::general_purpose::STANDARD.decode(p.checksum.as_deref()?).ok()?;
            Some(Piece { start: (p.number as u64 - 1) * part_size, len: part_len(p.number, part_size, size), digest })
        })
        .collect::<Option<Vec<Piece>>>()?;
    let value = Recipe { algorithm, cut: Cut::Any }.assemble(pieces, size)?;
    Some(crate::transfer::checksum::display_value(&value, None))
}

async fn complete(ctx: &Ctx<'_>, item: &TransferItem, upload_id: &str, mut parts: Vec<DonePart>, checksum: Option<Algorithm>, size: u64, part_size: u64) -> Result<Option<String>> {
    if ctx.cancel.is_cancelled() {
        return Err(Error::Cancelled);
    }
    parts.sort_by_key(|p| p.number);
    let full = match checksum {
        Some(a) => Some(combined_checksum(&parts, a, size, part_size).ok_or_else(|| Error::Internal("a part's checksum is missing".into()))?),
        None => None,
    };
    let completed: Vec<CompletedPart> = parts.iter().map(|p| with_checksum!(CompletedPart::builder(), checksum, p.checksum.clone()).part_number(p.number).e_tag(&p.etag).build()).collect();
    let body = CompletedMultipartUpload::builder().set_parts(Some(completed)).build();
    let request = ctx.conn.client.complete_multipart_upload().set_checksum_type(checksum.map(|_| ChecksumType::FullObject));
    let request = with_checksum!(request, checksum, full).bucket(&ctx.job.bucket).key(&item.key).upload_id(upload_id).multipart_upload(body);
    match request.send().await {
        Ok(out) => Ok(out.e_tag().map(str::to_string)),
        Err(e) if unreadable_ok(&e) => confirm_completed(ctx, item, parts.len(), size).await,
        Err(e) => Err(sdk::map(e, ctx.conn, &ctx.job.bucket, &item.key)),
    }
}

/// A `200 OK` the SDK could not parse — as opposed to AWS's `200` carrying an `<Error>` body,
/// which parses into an error code and is a real failure.
fn unreadable_ok<E: ProvideErrorMetadata>(e: &SdkError<E, HttpResponse>) -> bool {
    e.code().is_none() && e.raw_response().is_some_and(|r| r.status().as_u16() == 200)
}

/// A `200 OK` to CompleteMultipartUpload whose body the SDK cannot parse (moto 5.2 names the
/// root element `CompleteMultipartUploadResponse`): the upload succeeded if the object now
/// exists with a multipart ETag of `parts` parts and the `size` uploaded.
async fn confirm_completed(ctx: &Ctx<'_>, item: &TransferItem, parts: usize, size: u64) -> Result<Option<String>> {
    let head = ctx.conn.client.head_object().bucket(&ctx.job.bucket).key(&item.key).send().await;
    let head = head.map_err(|e| sdk::map(e, ctx.conn, &ctx.job.bucket, &item.key))?;
    let etag_parts = head.e_tag().and_then(|e| e.trim_matches('"').rsplit_once('-')).map(|(_, n)| n.to_string());
    if etag_parts.as_deref() == Some(parts.to_string().as_str()) && head.content_length() == Some(size as i64) {
        return Ok(head.e_tag().map(str::to_string));
    }
    let detail = format!("completing the multipart upload returned an unreadable answer and the object is not the upload ({:?})", head.e_tag());
    Err(Error::Integrity { what: format!("s3://{}/{}", ctx.job.bucket, item.key), detail })
}

/// Aborts an upload that can no longer be continued; failures only leave garbage that a
/// lifecycle rule (AbortIncompleteMultipartUpload) cleans up, so they are ignored.
async fn abort_quietly(ctx: &Ctx<'_>, state: &UploadState) {
    let id = &state.ident;
    let _ = ctx.conn.client.abort_multipart_upload().bucket(&id.bucket).key(&id.key).upload_id(&state.upload_id).send().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unparsed_list_parts_body_is_read() {
        let xml = r#"<ListPartsResponse><NextPartNumberMarker>2</NextPartNumberMarker><IsTruncated>false</IsTruncated><Part><PartNumber>1</PartNumber><ETag>&quot;ab&quot;</ETag><Size>100</Size></Part><Part><PartNumber>2</PartNumber><ETag>"cd"</ETag><Size>5</Size></Part></ListPartsResponse>"#;
        let page = PartsPage::from_xml(xml);
        assert_eq!(page.parts, vec![(1, "\"ab\"".to_string(), 100), (2, "\"cd\"".to_string(), 5)]);
        assert!(!page.truncated);
        assert_eq!(page.next_marker.as_deref(), Some("2"));
    }

    #[test]
    fn last_part_is_the_remainder() {
        assert_eq!(part_len(1, 10, 25), 10);
        assert_eq!(part_len(3, 10, 25), 5);
        assert_eq!(part_len(2, 10, 20), 10);
    }
}
