//! An upload body that counts bytes as the HTTP client takes them, so progress moves while a
//! 32 MiB part is on the wire instead of jumping when it completes.
//!
//! The body is retryable (the SDK rebuilds it on retry); bytes are counted up to the highest
//! offset ever sent, so a retried part never counts twice and progress never goes back.

use aws_sdk_s3::primitives::ByteStream;
use aws_smithy_types::body::SdkBody;
use bytes::Bytes;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

/// Size of the frames handed to the HTTP client (and so the progress granularity).
const FRAME: usize = 256 * 1024;

/// Something that accumulates moved bytes (the job's progress counter).
pub(super) type Counter = Arc<AtomicU64>;

/// A [`ByteStream`] over `data` that adds to `counter` as frames are polled.
pub(super) fn counting_body(data: Bytes, counter: Counter) -> ByteStream {
    let high = Arc::new(AtomicU64::new(0));
    let body = SdkBody::retryable(move || {
        SdkBody::from_body_1_x(Counting { data: data.clone(), pos: 0, high: high.clone(), counter: counter.clone() })
    });
    ByteStream::new(body)
}

struct Counting {
    data: Bytes,
    pos: usize,
    /// Highest offset already counted, shared by every rebuild of this body.
    high: Arc<AtomicU64>,
    counter: Counter,
}

impl http_body::Body for Counting {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        if self.pos >= self.data.len() {
            return Poll::Ready(None);
        }
        let end = (self.pos + FRAME).min(self.data.len());
        let chunk = self.data.slice(self.pos..end);
        self.pos = end;
        let before = self.high.fetch_max(end as u64, Ordering::Relaxed);
        if (end as u64) > before {
            self.counter.fetch_add(end as u64 - before, Ordering::Relaxed);
        }
        Poll::Ready(Some(Ok(http_body::Frame::data(chunk))))
    }

    fn is_end_stream(&self) -> bool {
        self.pos >= self.data.len()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact((self.data.len() - self.pos) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn counts_every_byte_once_even_when_rebuilt() {
        let counter = Counter::default();
        let data = Bytes::from(vec![1u8; 1_000_000]);
        let body = counting_body(data.clone(), counter.clone());
        let got = body.collect().await.unwrap().into_bytes();
        assert_eq!(got, data);
        assert_eq!(counter.load(Ordering::Relaxed), 1_000_000);
    }
}
