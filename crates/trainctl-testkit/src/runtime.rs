//! The kit's own tokio runtime, so that its helpers work from sync tests and async tests alike.

use std::future::Future;
use std::sync::{mpsc, OnceLock};

/// Why: `Runtime::block_on` panics inside another runtime (a `#[tokio::test]`), and an SDK
/// client whose connections live on a test's runtime breaks once that test ends. The kit runs
/// all its own S3 calls on one process-wide runtime and waits for them through a channel.
fn kit_runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("testkit-rt")
            .enable_all()
            .build()
            .expect("build testkit runtime")
    })
}

/// Runs `fut` on the kit runtime and blocks the calling thread until it finishes.
pub(crate) fn run<F>(fut: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let (tx, rx) = mpsc::channel();
    kit_runtime().spawn(async move {
        let _ = tx.send(fut.await);
    });
    rx.recv().expect("testkit task panicked")
}
