//! Content references (`--dedup=refs`): a file repeated across a run is stored once, in the
//! run's content area, and every key that holds it gets a small reference object instead.
//!
//! - **Names.** The reference of `KEY` is `KEY.trainctl-ref` ([`SUFFIX`]): no other tool ever
//!   sees a small JSON body under the original name, and a listing alone tells references apart
//!   (no HEAD per object). The content lives at `<scope>.trainctl/content/<crc64nvme hex>-<size>`
//!   ([`content_key`]), where `<scope>` is the prefix the upload deduplicated within (the
//!   destination folder or `--dedup=refs:s3://…/run/`).
//! - **Body.** Canonical JSON (fixed field order, no whitespace): format version, content key,
//!   logical size, the content's CRC64NVME (base64, as `x-amz-checksum-crc64nvme` shows it). Two
//!   references to the same content have byte-identical bodies, hence the same ETag: reference
//!   counting reads one body per distinct ETag, not one per reference ([`resolve::census`]).
//! - **Trust.** A body is hostile input: capped at [`MAX_BODY`] bytes, a newer format refused,
//!   and its content key must be a content name whose CRC and size are the body's, in a content
//!   area of a folder that contains the reference ([`Ref::parse`]) — a reference cannot make
//!   trainctl read an arbitrary object of the bucket. Every read verifies the content's
//!   CRC64NVME against the reference.
//!
//! `transfer::dedup` writes references, `transfer::plan` resolves them on download,
//! [`materialize`] turns them back into plain objects; every listing a user sees (checkpoint
//! list and cleanup, the watcher, `s3 ls`, sync up) applies one rule to them,
//! [`listing::view`], and the review reads their logical sizes (`review::references`).

pub mod listing;
pub mod materialize;
pub mod resolve;

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// Suffix of reference objects.
pub const SUFFIX: &str = ".trainctl-ref";
/// The content area, below the scope prefix.
pub const AREA: &str = ".trainctl/content/";
/// The body format of a reference to plain content; older trainctl read it.
pub const FORMAT: u32 = 1;
/// The body format of a reference to compressed content (`--dedup=refs --compress …`: a
/// content key with a codec suffix). A trainctl that reads only [`FORMAT`] refuses it ("a newer
/// format") rather than writing compressed bytes under the original name.
pub const FORMAT_COMPRESSED: u32 = 2;
/// Largest body read (a real one is about 150 bytes).
pub const MAX_BODY: u64 = 4096;

/// One reference's body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ref {
    /// Format version ([`FORMAT`]).
    pub trainctl_ref: u32,
    /// The key of the content object (same bucket).
    pub content: String,
    /// The logical size: the file's, and the content object's (compressed content: the
    /// original's; its header and metadata say the same).
    pub size: u64,
    /// CRC64NVME of the content (compressed content: of the original bytes), base64 of its
    /// big-endian bytes.
    pub crc64nvme: String,
}

impl Ref {
    /// The reference to content `crc`/`size` in the content area of `scope`.
    pub fn new(scope: &str, crc: u64, size: u64) -> Ref {
        Ref::to(content_key(scope, crc, size), crc, size)
    }

    /// The reference to the content object `content` (plain, or compressed: a codec suffix)
    /// holding `size` bytes of CRC64NVME `crc` (compressed: once decoded).
    pub fn to(content: String, crc: u64, size: u64) -> Ref {
        let trainctl_ref = if content_codec_suffix(&content).is_some() { FORMAT_COMPRESSED } else { FORMAT };
        Ref { trainctl_ref, content, size, crc64nvme: crate::codec::crc64_base64(crc) }
    }

    /// Whether its content is stored compressed (`NAME.zst` / `NAME.tcz` in the content area):
    /// read through the codec, whose header must show [`Ref::size`] and [`Ref::crc`].
    pub fn compressed(&self) -> Option<&'static str> {
        content_codec_suffix(&self.content)
    }

    /// The canonical body (identical for identical references).
    pub fn body(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// The CRC64NVME as a number.
    pub fn crc(&self) -> u64 {
        crate::codec::crc64_of_base64(&self.crc64nvme).unwrap_or(0)
    }

    /// Reads the body of the reference at `reference` and checks it (see the module
    /// documentation). Pure.
    pub fn parse(bucket: &str, reference: &str, body: &[u8]) -> Result<Ref> {
        let bad = |detail: String| Error::RefCorrupt { bucket: bucket.into(), reference: reference.into(), detail };
        if body.len() as u64 > MAX_BODY {
            return Err(bad(format!("its body is {} bytes, more than the {MAX_BODY} a reference has", body.len())));
        }
        #[derive(Deserialize)]
        struct Version {
            trainctl_ref: u32,
        }
        let v: Version = serde_json::from_slice(body).map_err(|e| bad(format!("not a trainctl reference ({e})")))?;
        if v.trainctl_ref > FORMAT_COMPRESSED || v.trainctl_ref == 0 {
            return Err(bad(format!("format {} (this trainctl reads formats {FORMAT} and {FORMAT_COMPRESSED})", v.trainctl_ref)));
        }
        let r: Ref = serde_json::from_slice(body).map_err(|e| bad(format!("not a trainctl reference ({e})")))?;
        let crc = crate::codec::crc64_of_base64(&r.crc64nvme).ok_or_else(|| bad(format!("`{}` is not a CRC64NVME", crate::limits::prefix_at_most(&r.crc64nvme, 64))))?;
        let Some((scope, c, size)) = parse_content_key(&r.content) else {
            return Err(bad(format!("`{}` is not a content key", crate::limits::prefix_at_most(&r.content, 200))));
        };
        if (c, size) != (crc, r.size) {
            return Err(bad(format!("its content key {} does not name its CRC and size", r.content)));
        }
        if (content_codec_suffix(&r.content).is_some()) != (r.trainctl_ref == FORMAT_COMPRESSED) {
            return Err(bad(format!("format {} does not go with its content key {}", r.trainctl_ref, r.content)));
        }
        if !reference.starts_with(scope) {
            return Err(bad(format!("its content {} is outside the folders that contain it", r.content)));
        }
        Ok(r)
    }
}

/// The content key of `crc`/`size` under `scope` (a prefix: empty or ending in `/`).
pub fn content_key(scope: &str, crc: u64, size: u64) -> String {
    format!("{scope}{AREA}{crc:016x}-{size}")
}

/// The content key of compressed content: [`content_key`] with the codec's suffix.
pub fn compressed_content_key(scope: &str, crc: u64, size: u64, suffix: &str) -> String {
    format!("{}{suffix}", content_key(scope, crc, size))
}

/// The codec suffix of a compressed content key (`….zst`, `….tcz`), `None` for plain content.
pub fn content_codec_suffix(key: &str) -> Option<&'static str> {
    [crate::codec::ZSTD_SUFFIX, crate::codec::BYTEPLANE_SUFFIX].into_iter().find(|s| key.ends_with(s))
}

/// `(scope, crc, size)` of a content key, plain or compressed (size and CRC of the original),
/// `None` for any other key.
pub fn parse_content_key(key: &str) -> Option<(&str, u64, u64)> {
    // No allocation: the review calls this for every listed key.
    let (head, name) = key.rsplit_once('/')?;
    let name = content_codec_suffix(name).map_or(name, |s| &name[..name.len() - s.len()]);
    let area = AREA.trim_end_matches('/');
    let scope = head.strip_suffix(area).filter(|s| s.is_empty() || s.ends_with('/'))?.len();
    let (hex, size) = name.split_once('-')?;
    if hex.len() != 16 || !hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) || size.is_empty() || !size.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((&key[..scope], u64::from_str_radix(hex, 16).ok()?, size.parse().ok()?))
}

/// Whether `key` lies in a content area (relative to `prefix`, which it starts with): such
/// objects are reached through their references, never listed as files of their own.
pub fn in_content_area(prefix: &str, key: &str) -> bool {
    let rel = key.strip_prefix(prefix).unwrap_or(key);
    rel.match_indices(AREA).any(|(i, _)| i == 0 || rel.as_bytes()[i - 1] == b'/')
}

/// The key a reference stands for (`a/model.safetensors.trainctl-ref` → `a/model.safetensors`),
/// `None` when `key` is not a reference name.
pub fn logical_key(key: &str) -> Option<&str> {
    key.strip_suffix(SUFFIX).filter(|k| !k.is_empty() && !k.ends_with('/'))
}

/// A name as detection reads it: a reference's as its logical name, a compressed one's as the
/// original's (`codec::logical_name`), anything else as itself.
pub fn logical_name(name: &str) -> &str {
    crate::codec::logical_name(logical_key(name).unwrap_or(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reference_body_is_canonical_and_round_trips() {
        let r = Ref::new("runs/a/", 0xabc, 70_000);
        assert_eq!(r.content, "runs/a/.trainctl/content/0000000000000abc-70000");
        assert_eq!(r.body(), Ref::new("runs/a/", 0xabc, 70_000).body());
        assert_eq!(Ref::parse("b", "runs/a/ck-1/x.bin.trainctl-ref", &r.body()).unwrap(), r);
        assert_eq!(r.crc(), 0xabc);
    }

    #[test]
    fn a_hostile_reference_is_refused() {
        let r = Ref::new("runs/a/", 1, 5);
        let refuse = |key: &str, body: &[u8]| assert_eq!(Ref::parse("b", key, body).unwrap_err().code(), "ref_corrupt", "{key} {}", String::from_utf8_lossy(body));
        refuse("runs/other/x.trainctl-ref", &r.body());
        refuse("runs/a/x.trainctl-ref", b"not json");
        refuse("runs/a/x.trainctl-ref", &vec![b' '; 5000]);
        refuse("runs/a/x.trainctl-ref", br#"{"trainctl_ref":3,"content":"x","size":1,"crc64nvme":"x"}"#);
        let mut wrong_size = r.clone();
        wrong_size.size = 6;
        refuse("runs/a/x.trainctl-ref", &wrong_size.body());
        let mut elsewhere = r.clone();
        elsewhere.content = "secrets/key".into();
        refuse("runs/a/x.trainctl-ref", &elsewhere.body());
    }

    #[test]
    fn a_reference_to_compressed_content_is_format_2_and_names_the_original() {
        let key = compressed_content_key("runs/a/", 0xabc, 70_000, ".tcz");
        assert_eq!(key, "runs/a/.trainctl/content/0000000000000abc-70000.tcz");
        assert_eq!(parse_content_key(&key), Some(("runs/a/", 0xabc, 70_000)));
        let r = Ref::to(key.clone(), 0xabc, 70_000);
        assert_eq!((r.trainctl_ref, r.compressed()), (FORMAT_COMPRESSED, Some(".tcz")));
        assert_eq!(Ref::parse("b", "runs/a/x.trainctl-ref", &r.body()).unwrap(), r);
        assert_eq!(Ref::new("runs/a/", 0xabc, 70_000).trainctl_ref, FORMAT, "plain content: the format older trainctl reads");
        let refuse = |body: &[u8]| assert_eq!(Ref::parse("b", "runs/a/x.trainctl-ref", body).unwrap_err().code(), "ref_corrupt", "{}", String::from_utf8_lossy(body));
        let mut as_plain = r.clone();
        as_plain.trainctl_ref = FORMAT;
        refuse(&as_plain.body());
        let mut wrong = r.clone();
        wrong.size = 69_999;
        refuse(&wrong.body());
    }

    #[test]
    fn content_keys_and_logical_names() {
        assert_eq!(parse_content_key(".trainctl/content/0000000000000001-5"), Some(("", 1, 5)));
        assert_eq!(parse_content_key("r/.trainctl/content/00000000000000ff-5"), Some(("r/", 255, 5)));
        for bad in ["r/.trainctl/content/ff-5", "r/.trainctl/content/000000000000000g-5", "r/x/0000000000000001-5", "r/.trainctl/content/0000000000000001-", "r/.trainctl/content/0000000000000001-5x", "r/x.trainctl/content/0000000000000001-5"] {
            assert_eq!(parse_content_key(bad), None, "{bad}");
        }
        assert!(in_content_area("run/", "run/.trainctl/content/x"));
        assert!(in_content_area("", "a/b/.trainctl/content/x"));
        assert!(!in_content_area("run/", "run/ck/model.bin"));
        assert!(!in_content_area("run/", "run/x.trainctl/content/y"));
        assert_eq!(logical_key("a/model.safetensors.trainctl-ref"), Some("a/model.safetensors"));
        assert_eq!(logical_key("a/.trainctl-ref"), None);
        assert_eq!(logical_name("model.safetensors.trainctl-ref"), "model.safetensors");
        assert_eq!(logical_name("x.pt.zst"), "x.pt");
    }
}
