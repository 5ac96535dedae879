//! `FaultProxy`: a loopback TCP proxy that adds latency and cuts connections on demand.
//!
//! Why: the failures researchers hit (long-distance links, connections dropped mid-upload)
//! cannot be provoked against a local server without something in between. The proxy runs on
//! its own thread and runtime, so sync and async tests drive it the same way.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

/// Sentinel for "no cut armed".
const DISARMED: u64 = u64::MAX;
/// Bytes read per chunk; chunks are delayed and forwarded whole.
const CHUNK: usize = 64 * 1024;
/// Chunks in flight per direction (bounds memory while keeping throughput under latency).
const IN_FLIGHT: usize = 256;

/// A running proxy; dropping it closes the listener and every connection.
pub struct FaultProxy {
    addr: SocketAddr,
    state: Arc<State>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Knobs and counters shared by the accept loop and every connection.
struct State {
    upstream: SocketAddr,
    one_way_delay_us: AtomicU64,
    accepted: AtomicU64,
    bytes_down: AtomicU64,
    cuts: AtomicU64,
    /// (bytes forwarded upstream in total, absolute total at which to cut or DISARMED).
    upstream_bytes: Mutex<(u64, u64)>,
    cut_generation: watch::Sender<u64>,
}

impl FaultProxy {
    /// Starts a proxy on a free loopback port in front of `upstream`, with no latency.
    pub fn start(upstream: SocketAddr) -> std::io::Result<Self> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), upstream)
    }

    /// Starts a proxy listening on `listen` (port 0 picks a free one) in front of `upstream`.
    pub fn start_on(listen: SocketAddr, upstream: SocketAddr) -> std::io::Result<Self> {
        let listener = std::net::TcpListener::bind(listen)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State {
            upstream,
            one_way_delay_us: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
            bytes_down: AtomicU64::new(0),
            cuts: AtomicU64::new(0),
            upstream_bytes: Mutex::new((0, DISARMED)),
            cut_generation: watch::channel(0).0,
        });
        let (shutdown, shutdown_rx) = oneshot::channel();
        let thread_state = state.clone();
        let thread = std::thread::Builder::new().name(format!("fault-proxy-{}", addr.port())).spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("proxy runtime");
            rt.block_on(async move {
                let listener = TcpListener::from_std(listener).expect("register proxy listener");
                accept_loop(listener, thread_state, shutdown_rx).await
            });
        })?;
        Ok(FaultProxy { addr, state, shutdown: Some(shutdown), thread: Some(thread) })
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, an endpoint URL through the proxy.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Emulates a round-trip time: each direction is delayed by `rtt / 2`, chunks keep their
    /// order and the link keeps its bandwidth; a new connection also waits one `rtt` (the TCP
    /// handshake a real link would cost). Applies to bytes read from now on.
    pub fn set_rtt(&self, rtt: Duration) {
        self.state.one_way_delay_us.store(rtt.as_micros() as u64 / 2, Ordering::Relaxed);
    }

    /// The round-trip time currently emulated.
    pub fn rtt(&self) -> Duration {
        Duration::from_micros(self.state.one_way_delay_us.load(Ordering::Relaxed) * 2)
    }

    /// Arms a one-shot cut: once `n` more bytes have been forwarded upstream (over all
    /// connections), every open connection is reset. Later connections work normally.
    pub fn cut_after_upstream_bytes(&self, n: u64) {
        let mut up = self.state.upstream_bytes.lock().unwrap_or_else(|p| p.into_inner());
        up.1 = up.0.saturating_add(n);
    }

    /// Disarms a pending cut.
    pub fn disarm_cut(&self) {
        self.state.upstream_bytes.lock().unwrap_or_else(|p| p.into_inner()).1 = DISARMED;
    }

    /// How many cuts have fired.
    pub fn cuts(&self) -> u64 {
        self.state.cuts.load(Ordering::Relaxed)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.state.accepted.load(Ordering::Relaxed)
    }

    /// Bytes forwarded client → upstream so far.
    pub fn bytes_upstream(&self) -> u64 {
        self.state.upstream_bytes.lock().unwrap_or_else(|p| p.into_inner()).0
    }

    /// Bytes forwarded upstream → client so far.
    pub fn bytes_downstream(&self) -> u64 {
        self.state.bytes_down.load(Ordering::Relaxed)
    }

    /// Zeroes the connection and byte counters (an armed cut keeps its remaining budget).
    pub fn reset_counters(&self) {
        let mut up = self.state.upstream_bytes.lock().unwrap_or_else(|p| p.into_inner());
        if up.1 != DISARMED {
            up.1 -= up.0.min(up.1);
        }
        up.0 = 0;
        self.state.accepted.store(0, Ordering::Relaxed);
        self.state.bytes_down.store(0, Ordering::Relaxed);
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl State {
    fn one_way_delay(&self) -> Duration {
        Duration::from_micros(self.one_way_delay_us.load(Ordering::Relaxed))
    }

    /// How much of a `len`-byte chunk may go upstream, and whether the cut fires after it.
    fn take_upstream_budget(&self, len: usize) -> (usize, bool) {
        let mut up = self.upstream_bytes.lock().unwrap_or_else(|p| p.into_inner());
        let (total, cut_at) = *up;
        let remaining = cut_at.saturating_sub(total);
        let (allowed, fire) = if (len as u64) < remaining { (len, false) } else { (remaining as usize, true) };
        up.0 += allowed as u64;
        if fire {
            up.1 = DISARMED;
        }
        (allowed, fire)
    }

    fn fire_cut(&self) {
        self.cuts.fetch_add(1, Ordering::Relaxed);
        self.cut_generation.send_modify(|g| *g += 1);
    }
}

async fn accept_loop(listener: TcpListener, state: Arc<State>, mut shutdown: oneshot::Receiver<()>) {
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            accepted = listener.accept() => {
                if let Ok((client, _)) = accepted {
                    state.accepted.fetch_add(1, Ordering::Relaxed);
                    tokio::spawn(serve(client, state.clone()));
                }
            }
        }
    }
}

/// Which way bytes flow through a pump.
#[derive(Clone, Copy, PartialEq)]
enum Dir {
    Up,
    Down,
}

/// Why a connection ended abnormally.
#[derive(Debug)]
enum Stop {
    Cut,
    Io,
}

async fn serve(mut client: TcpStream, state: Arc<State>) {
    let mut cut_rx = state.cut_generation.subscribe();
    let Ok(mut upstream) = TcpStream::connect(state.upstream).await else { return };
    let _ = (client.set_nodelay(true), upstream.set_nodelay(true));
    tokio::time::sleep(state.one_way_delay() * 2).await;
    let outcome = {
        let (cr, cw) = client.split();
        let (ur, uw) = upstream.split();
        let both = async {
            tokio::try_join!(pump(cr, uw, &state, Dir::Up), pump(ur, cw, &state, Dir::Down))
        };
        tokio::select! {
            r = both => r.map(|_| ()),
            _ = cut_rx.changed() => Err(Stop::Cut),
        }
    };
    if let Err(stop) = outcome {
        if matches!(stop, Stop::Cut) {
            // A reset, not a clean close: what a dropped link looks like to the client.
            let _ = (client.set_zero_linger(), upstream.set_zero_linger());
        }
    }
}

/// Copies `from` → `to`, delaying each chunk by the one-way delay without serialising the
/// delays: a reader stamps chunks with their due time, a writer sends each when due.
async fn pump(
    mut from: impl AsyncReadExt + Unpin,
    mut to: impl AsyncWriteExt + Unpin,
    state: &State,
    dir: Dir,
) -> Result<(), Stop> {
    let (tx, mut rx) = mpsc::channel::<(Instant, Vec<u8>)>(IN_FLIGHT);
    let reader = async move {
        loop {
            let mut buf = vec![0u8; CHUNK];
            let n = from.read(&mut buf).await.map_err(|_| Stop::Io)?;
            if n == 0 {
                return Ok(()); // EOF: dropping tx lets the writer finish and half-close
            }
            buf.truncate(n);
            if tx.send((Instant::now() + state.one_way_delay(), buf)).await.is_err() {
                return Ok(());
            }
        }
    };
    let writer = async move {
        while let Some((due, chunk)) = rx.recv().await {
            tokio::time::sleep_until(due).await;
            forward(&mut to, &chunk, state, dir).await?;
        }
        let _ = to.shutdown().await;
        Ok::<(), Stop>(())
    };
    tokio::try_join!(reader, writer).map(|_| ())
}

/// Writes one chunk, counting bytes and enforcing an armed cut on the upstream direction.
async fn forward(to: &mut (impl AsyncWriteExt + Unpin), chunk: &[u8], state: &State, dir: Dir) -> Result<(), Stop> {
    if dir == Dir::Down {
        to.write_all(chunk).await.map_err(|_| Stop::Io)?;
        state.bytes_down.fetch_add(chunk.len() as u64, Ordering::Relaxed);
        return Ok(());
    }
    let (allowed, fire) = state.take_upstream_budget(chunk.len());
    to.write_all(&chunk[..allowed]).await.map_err(|_| Stop::Io)?;
    if fire {
        let _ = to.flush().await;
        state.fire_cut();
        return Err(Stop::Cut);
    }
    Ok(())
}
