//! Which stores honour conditional writes on PutObject / CompleteMultipartUpload — pinned against
//! the real servers, so `data/quirks/providers.toml` (`conditional_put`, `conditional_overwrite`)
//! says what moto and Garage actually do. Two-way sync relies on it: a quirk that says "yes" for
//! a store that ignores the header would let a concurrent writer be overwritten silently.

use aws_sdk_s3::primitives::ByteStream;
use trainctl_core::config::quirks;
use trainctl_testkit::{shared_garage_or_skip, shared_moto, S3Server};

#[derive(Debug, PartialEq)]
struct Honoured {
    if_none_match: bool,
    if_match: bool,
}

async fn status_of(r: Result<impl Sized, aws_sdk_s3::error::SdkError<impl std::fmt::Debug, aws_smithy_runtime_api::http::Response>>) -> u16 {
    match r {
        Ok(_) => 200,
        Err(e) => e.raw_response().map(|r| r.status().as_u16()).unwrap_or(0),
    }
}

async fn probe(server: &S3Server) -> Honoured {
    let c = server.client();
    let bucket = server.new_bucket("cond");
    c.put_object().bucket(&bucket).key("k").body(ByteStream::from_static(b"one")).send().await.unwrap();
    let etag = c.head_object().bucket(&bucket).key("k").send().await.unwrap().e_tag().unwrap().to_string();
    let none = c.put_object().bucket(&bucket).key("k").if_none_match("*").body(ByteStream::from_static(b"two")).send().await;
    let none_status = status_of(none).await;
    let wrong = c.put_object().bucket(&bucket).key("k").if_match("\"0123456789abcdef0123456789abcdef\"").body(ByteStream::from_static(b"three")).send().await;
    let wrong_status = status_of(wrong).await;
    let body = c.get_object().bucket(&bucket).key("k").send().await.unwrap().body.collect().await.unwrap().into_bytes();
    eprintln!("{:?}: If-None-Match on an existing key → {none_status}, wrong If-Match → {wrong_status}, body now {:?}, etag {etag}", server.kind(), body);
    Honoured { if_none_match: none_status == 412, if_match: wrong_status == 412 }
}

fn quirk(id: &str) -> Honoured {
    let q = quirks::get(id).unwrap();
    Honoured { if_none_match: q.conditional_put, if_match: q.conditional_overwrite }
}

#[tokio::test]
async fn moto_conditional_puts_match_the_quirks() {
    assert_eq!(probe(shared_moto()).await, quirk("moto"));
}

#[tokio::test]
async fn garage_conditional_puts_match_the_quirks() {
    let Some(g) = shared_garage_or_skip() else { return };
    assert_eq!(probe(g).await, quirk("garage"));
}
