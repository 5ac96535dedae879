//! Decoding a compressed stream as it arrives (an object's body), without a copy of the
//! compressed bytes on disk: the async side hands chunks to [`StreamDecoder::feed`], the
//! synchronous decoder ([`super::decode::decode`]) reads them on a blocking thread through
//! tokio-util's `StreamReader` + `SyncIoBridge`, and writes the original bytes wherever it is
//! told (a temp file when staging, nowhere when verifying).
//!
//! **A broken body is not corrupt data.** The body's errors never reach the decoder: the
//! caller keeps them (and may continue the body with a ranged GET, feeding the same decoder)
//! and ends the stream; the decoder then sees a stream that ends early, and the caller reports
//! its own error (an interruption) in preference to the decoder's verdict.
//!
//! **Memory is bounded**: [`QUEUED_CHUNKS`] chunks queued, the reader's 1 MiB buffer, and the
//! decoder's own (a byte-plane block or zstd's window).

use super::decode::{decode, DecodeError, Decoded};
use bytes::Bytes;
use std::io::Write;
use tokio::sync::mpsc;

/// Chunks of a body queued for the decoder at most; the sender waits beyond them.
pub const QUEUED_CHUNKS: usize = 8;

/// Memory (MiB) one decode may hold: queued chunks, the reader's and the writer's buffers, a
/// byte-plane block's compressed planes, planes and merged bytes (3 × 4 MiB), or zstd's window
/// (≤ 8 MiB at the levels uploads use).
pub const DECODE_MEMORY_MIB: u32 = 20;

/// A decoder running on a blocking thread, fed chunk by chunk.
pub struct StreamDecoder<W> {
    tx: mpsc::Sender<Bytes>,
    task: tokio::task::JoinHandle<(Result<Decoded, DecodeError>, W)>,
    /// The decoder stopped reading before the stream ended (corrupt bytes).
    stopped: bool,
}

impl<W: Write + Send + 'static> StreamDecoder<W> {
    /// Starts decoding into `out` (flushed once the decode verifies). Call inside a tokio
    /// runtime.
    pub fn start(out: W) -> Self {
        let (tx, mut rx) = mpsc::channel::<Bytes>(QUEUED_CHUNKS);
        let chunks = futures::stream::poll_fn(move |cx| rx.poll_recv(cx).map(|c| c.map(Ok::<_, std::io::Error>)));
        let reader = tokio_util::io::SyncIoBridge::new(tokio_util::io::StreamReader::new(chunks));
        let task = tokio::task::spawn_blocking(move || {
            let mut out = out;
            let decoded = decode(&mut std::io::BufReader::with_capacity(1 << 20, reader), &mut out);
            let decoded = decoded.and_then(|d| out.flush().map(|()| d).map_err(DecodeError::Write));
            (decoded, out)
        });
        StreamDecoder { tx, task, stopped: false }
    }

    /// Hands the decoder the stream's next chunk. `false` once the decoder has stopped reading
    /// (it found bytes it cannot decode): the rest of the stream is not needed, and
    /// [`finish`](Self::finish) says why.
    pub async fn feed(&mut self, chunk: Bytes) -> bool {
        if !self.stopped && self.tx.send(chunk).await.is_err() {
            self.stopped = true;
        }
        !self.stopped
    }

    /// Whether the decoder stopped reading before the stream ended.
    pub fn stopped(&self) -> bool {
        self.stopped
    }

    /// Ends the stream and waits for the decoder: its verdict, and the writer back. A stream
    /// ended before its end (a broken body) is a `Read` or `Corrupt` error here; the caller
    /// that knows the body broke reports that instead.
    pub async fn finish(self) -> std::result::Result<(Result<Decoded, DecodeError>, W), String> {
        drop(self.tx);
        self.task.await.map_err(|e| format!("decode task: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Codec;

    fn compressed(data: &[u8], codec: Codec) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("w.bin");
        std::fs::write(&src, data).unwrap();
        let mut out = tempfile::tempfile().unwrap();
        crate::codec::encode::encode_file(&src, &mut out, codec, 3.into()).unwrap();
        std::io::Seek::seek(&mut out, std::io::SeekFrom::Start(0)).unwrap();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut out, &mut bytes).unwrap();
        bytes
    }

    /// bf16-like bytes (noisy mantissas): 12 MiB, three byte-plane blocks that stay large.
    fn sample() -> Vec<u8> {
        let mut rng = fastrand::Rng::with_seed(3);
        (0..6 << 20).flat_map(|_| [rng.u8(..), 0x3c + rng.u8(..4)]).collect()
    }

    #[tokio::test]
    async fn chunks_fed_in_any_sizes_decode_byte_identical() {
        let data = sample();
        for codec in [Codec::Zstd, Codec::BytePlane { width: 2 }] {
            let stream = compressed(&data, codec);
            let mut d = StreamDecoder::start(Vec::new());
            for chunk in stream.chunks(77_777) {
                assert!(d.feed(Bytes::copy_from_slice(chunk)).await);
            }
            let (decoded, out) = d.finish().await.unwrap();
            assert!(matches!(decoded, Ok(Decoded::Verified(h)) if h.original_size == data.len() as u64), "{codec:?}");
            assert!(out == data, "{codec:?}");
        }
    }

    #[tokio::test]
    async fn a_stream_ended_early_does_not_verify_and_corrupt_bytes_stop_the_feed() {
        let data = sample();
        let stream = compressed(&data, Codec::BytePlane { width: 2 });
        let mut d = StreamDecoder::start(std::io::sink());
        assert!(d.feed(Bytes::copy_from_slice(&stream[..stream.len() / 2])).await);
        let (decoded, _) = d.finish().await.unwrap();
        assert!(decoded.is_err(), "half a stream: {decoded:?}");

        // The first block's length made larger than any block: refused at once.
        let mut bad = stream.clone();
        bad[crate::codec::header::LEN + 4 + 3] = 0xff;
        let mut d = StreamDecoder::start(std::io::sink());
        let mut fed = 0;
        for chunk in bad.chunks(16 * 1024) {
            if !d.feed(Bytes::copy_from_slice(chunk)).await {
                break;
            }
            fed += chunk.len();
        }
        assert!(d.stopped() && fed < bad.len(), "the decoder stopped reading ({fed} of {} fed)", bad.len());
        assert!(matches!(d.finish().await.unwrap().0, Err(DecodeError::Corrupt(_))));
    }
}
