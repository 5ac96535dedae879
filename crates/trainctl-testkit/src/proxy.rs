//! `FaultProxy`: a loopback TCP proxy that adds latency, cuts connections on demand, and can turn
//! into a black hole (connections accepted, nothing ever answered: a half-open peer).
//!
//! Why: the failures researchers hit (long-distance links, connections dropped mid-upload)
//! cannot be provoked against a local server without something in between. The proxy runs on
//! its own thread and runtime, so sync and async tests drive it the same way.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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
    /// Link capacity per direction in bytes per second, shared by all connections (0: none).
    bandwidth: AtomicU64,
    /// When each direction's link is free again (index: `Dir as usize`), for the bandwidth cap.
    link_free_at: Mutex<[Option<Instant>; 2]>,
    accepted: AtomicU64,
    cuts: AtomicU64,
    /// (bytes forwarded upstream in total, absolute total at which to cut or DISARMED).
    upstream_bytes: Mutex<(u64, u64)>,
    /// The same for bytes forwarded downstream (upstream → client).
    downstream_bytes: Mutex<(u64, u64)>,
    /// While set, nothing is forwarded in either direction and new connections are accepted
    /// and read but never connected upstream.
    black_hole: AtomicBool,
    /// Faults applied to HTTP requests of connections opened while they are set.
    http_faults: Mutex<Vec<HttpFault>>,
    /// While `Some`, every request of connections opened since is logged as (method, target).
    request_log: Mutex<Option<Vec<(String, String)>>>,
    rng: Mutex<fastrand::Rng>,
    slow_downs: AtomicU64,
    black_holed: AtomicU64,
    cut_generation: watch::Sender<u64>,
    /// Absolute downstream byte index whose bits are inverted once (DISARMED: none).
    flip_at: AtomicU64,
    flips: AtomicU64,
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
            bandwidth: AtomicU64::new(0),
            link_free_at: Mutex::new([None; 2]),
            accepted: AtomicU64::new(0),
            cuts: AtomicU64::new(0),
            upstream_bytes: Mutex::new((0, DISARMED)),
            downstream_bytes: Mutex::new((0, DISARMED)),
            black_hole: Default::default(),
            http_faults: Mutex::new(Vec::new()),
            request_log: Mutex::new(None),
            rng: Mutex::new(fastrand::Rng::with_seed(0x5eed)),
            slow_downs: AtomicU64::new(0),
            black_holed: AtomicU64::new(0),
            cut_generation: watch::channel(0).0,
            flip_at: AtomicU64::new(DISARMED),
            flips: AtomicU64::new(0),
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

    /// Caps the link at `bytes_per_sec` in each direction, shared by every connection (0 lifts
    /// the cap). Why: on loopback a 100 MiB transfer can finish between two progress samples;
    /// a capped link makes "progress moves while bytes flow" something a test can ask for
    /// without asserting on time.
    pub fn set_bandwidth(&self, bytes_per_sec: u64) {
        self.state.bandwidth.store(bytes_per_sec, Ordering::Relaxed);
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

    /// Arms a one-shot cut on the other direction: once `n` more bytes have been forwarded
    /// downstream (server → client, e.g. a download's body), every open connection is reset.
    pub fn cut_after_downstream_bytes(&self, n: u64) {
        let mut down = self.state.downstream_bytes.lock().unwrap_or_else(|p| p.into_inner());
        down.1 = down.0.saturating_add(n);
    }

    /// Arms a one-shot corruption: the byte forwarded downstream (server → client) after `n`
    /// more bytes has its bits inverted; the connection stays up. A download served through it
    /// has the right size and the wrong bytes — what only a checksum can catch.
    pub fn flip_downstream_byte_after(&self, n: u64) {
        self.state.flip_at.store(self.bytes_downstream().saturating_add(n), Ordering::SeqCst);
    }

    /// How many bytes were flipped.
    pub fn flips(&self) -> u64 {
        self.state.flips.load(Ordering::Relaxed)
    }

    /// Disarms pending cuts (both directions).
    pub fn disarm_cut(&self) {
        self.state.upstream_bytes.lock().unwrap_or_else(|p| p.into_inner()).1 = DISARMED;
        self.state.downstream_bytes.lock().unwrap_or_else(|p| p.into_inner()).1 = DISARMED;
    }

    /// Turns the black hole on or off. On: every byte from now on is swallowed in both
    /// directions and new connections are accepted but never answered — what a peer that went
    /// away without closing (a half-open connection) looks like. Off ("healed"): new connections
    /// work again; the ones that were swallowed stay dead, as they would on a real network.
    pub fn set_black_hole(&self, on: bool) {
        self.state.black_hole.store(on, Ordering::SeqCst);
    }

    /// Applies `faults` to the HTTP requests of connections opened from now on (the first
    /// matching fault decides; an empty list turns HTTP inspection off). Requests are framed by
    /// `Content-Length`; latency is still applied.
    pub fn set_http_faults(&self, faults: Vec<HttpFault>) {
        *self.state.http_faults.lock().unwrap_or_else(|p| p.into_inner()) = faults;
    }

    /// Logs the method and target of every request of connections opened from now on (to count
    /// what a client asks a server: LISTs, HEADs); [`FaultProxy::requests`] reads the log.
    pub fn log_requests(&self) {
        *self.state.request_log.lock().unwrap_or_else(|p| p.into_inner()) = Some(Vec::new());
    }

    /// The requests logged since [`FaultProxy::log_requests`], as (method, target).
    pub fn requests(&self) -> Vec<(String, String)> {
        self.state.request_log.lock().unwrap_or_else(|p| p.into_inner()).clone().unwrap_or_default()
    }

    /// Requests answered `503 SlowDown` by the proxy so far.
    pub fn slow_downs(&self) -> u64 {
        self.state.slow_downs.load(Ordering::Relaxed)
    }

    /// Requests black-holed by an [`HttpFault`] so far.
    pub fn black_holed_requests(&self) -> u64 {
        self.state.black_holed.load(Ordering::Relaxed)
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
        self.state.downstream_bytes.lock().unwrap_or_else(|p| p.into_inner()).0
    }

    /// Zeroes the connection and byte counters (an armed cut keeps its remaining budget).
    pub fn reset_counters(&self) {
        for counter in [&self.state.upstream_bytes, &self.state.downstream_bytes] {
            let mut c = counter.lock().unwrap_or_else(|p| p.into_inner());
            if c.1 != DISARMED {
                c.1 -= c.0.min(c.1);
            }
            c.0 = 0;
        }
        self.state.accepted.store(0, Ordering::Relaxed);
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

    /// Under a bandwidth cap, when a `len`-byte chunk has crossed the link: it starts when the
    /// link is free (or now) and takes `len / bandwidth`. `None` without a cap.
    fn transmission_done(&self, dir: Dir, len: usize) -> Option<Instant> {
        let bw = self.bandwidth.load(Ordering::Relaxed);
        if bw == 0 {
            return None;
        }
        let mut free = self.link_free_at.lock().unwrap_or_else(|p| p.into_inner());
        let slot = &mut free[dir as usize];
        let start = slot.map_or_else(Instant::now, |t| t.max(Instant::now()));
        let done = start + Duration::from_secs_f64(len as f64 / bw as f64);
        *slot = Some(done);
        Some(done)
    }

    /// How much of a `len`-byte chunk may go in direction `dir`, and whether the cut fires after it.
    /// Also returns the direction's byte count before this chunk.
    fn take_budget(&self, dir: Dir, len: usize) -> (usize, bool, u64) {
        let counter = if dir == Dir::Up { &self.upstream_bytes } else { &self.downstream_bytes };
        let mut up = counter.lock().unwrap_or_else(|p| p.into_inner());
        let (total, cut_at) = *up;
        let remaining = cut_at.saturating_sub(total);
        let (allowed, fire) = if (len as u64) < remaining { (len, false) } else { (remaining as usize, true) };
        up.0 += allowed as u64;
        if fire {
            up.1 = DISARMED;
        }
        (allowed, fire, total)
    }

    /// Takes the armed flip if it falls in `start..start + len` of the downstream bytes.
    fn take_flip(&self, start: u64, len: usize) -> Option<usize> {
        let at = self.flip_at.load(Ordering::SeqCst);
        let hit = at != DISARMED && at >= start && at < start + len as u64;
        (hit && self.flip_at.compare_exchange(at, DISARMED, Ordering::SeqCst, Ordering::SeqCst).is_ok()).then(|| {
            self.flips.fetch_add(1, Ordering::Relaxed);
            (at - start) as usize
        })
    }

    /// The action of the first fault matching `head`, if its dice say so.
    fn decide(&self, faults: &[HttpFault], head: &RequestHead) -> Option<HttpAction> {
        let f = faults.iter().find(|f| {
            f.method.as_deref().is_none_or(|m| m.eq_ignore_ascii_case(&head.method))
                && f.target_contains.as_deref().is_none_or(|t| head.target.contains(t))
                && f.header_contains.as_deref().is_none_or(|h| head.headers.contains(&h.to_ascii_lowercase()))
        })?;
        let roll = self.rng.lock().unwrap_or_else(|p| p.into_inner()).f64();
        (roll < f.probability).then_some(f.action)
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
    if state.black_hole.load(Ordering::SeqCst) {
        // Accept and read, never connect upstream nor answer.
        let mut sink = vec![0u8; CHUNK];
        while matches!(client.read(&mut sink).await, Ok(n) if n > 0) {}
        return;
    }
    let mut cut_rx = state.cut_generation.subscribe();
    let Ok(mut upstream) = TcpStream::connect(state.upstream).await else { return };
    let _ = (client.set_nodelay(true), upstream.set_nodelay(true));
    tokio::time::sleep(state.one_way_delay() * 2).await;
    let faults = state.http_faults.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let outcome = {
        let (cr, cw) = client.split();
        let (ur, uw) = upstream.split();
        let swallowed = AtomicBool::new(false);
        let (up_tx, up_rx) = mpsc::channel(IN_FLIGHT);
        let (down_tx, down_rx) = mpsc::channel(IN_FLIGHT);
        let logging = state.request_log.lock().unwrap_or_else(|p| p.into_inner()).is_some();
        let http = (!faults.is_empty() || logging).then(|| (faults, down_tx.clone(), &swallowed));
        let all = async {
            tokio::try_join!(
                read_side(cr, up_tx, &state, http),
                write_side(up_rx, uw, &state, Dir::Up, &swallowed),
                read_side(ur, down_tx, &state, None),
                write_side(down_rx, cw, &state, Dir::Down, &swallowed),
            )
        };
        tokio::select! {
            r = all => r.map(|_| ()),
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

/// What a reader hands its writer.
enum Msg {
    /// Bytes to forward once due.
    Data(Instant, Vec<u8>),
    /// An answer of the proxy's own (`503 SlowDown`): write it, then close this direction.
    CloseAfter(Vec<u8>),
}

/// Reads `from` and stamps chunks with their due time (the one-way delay), so delays do not
/// serialise. With `http` faults (client → server only), requests are framed and matched: a
/// matching request is answered `503 SlowDown` (through the other direction's writer, `down`)
/// or black-holed instead of being forwarded.
async fn read_side(
    mut from: impl AsyncReadExt + Unpin,
    tx: mpsc::Sender<Msg>,
    state: &State,
    http: Option<(Vec<HttpFault>, mpsc::Sender<Msg>, &AtomicBool)>,
) -> Result<(), Stop> {
    let mut framer = http.map(|(faults, down, swallowed)| (RequestFramer::default(), faults, down, swallowed));
    loop {
        let mut buf = vec![0u8; CHUNK];
        let n = from.read(&mut buf).await.map_err(|_| Stop::Io)?;
        if n == 0 {
            return Ok(()); // EOF: dropping tx lets the writer finish and half-close
        }
        buf.truncate(n);
        let due = Instant::now() + state.one_way_delay();
        let Some((framer, faults, down, swallowed)) = framer.as_mut() else {
            if tx.send(Msg::Data(due, buf)).await.is_err() {
                return Ok(());
            }
            continue;
        };
        for (bytes, head) in framer.push(buf) {
            if let (Some(h), Some(log)) = (&head, state.request_log.lock().unwrap_or_else(|p| p.into_inner()).as_mut()) {
                log.push((h.method.clone(), h.target.clone()));
            }
            match head.and_then(|h| state.decide(faults, &h)) {
                Some(HttpAction::SlowDown) => {
                    state.slow_downs.fetch_add(1, Ordering::Relaxed);
                    let _ = down.send(Msg::CloseAfter(SLOW_DOWN.to_vec())).await;
                    // Swallow the rest of what the client sends; it closes after the answer.
                    while matches!(from.read(&mut vec![0u8; CHUNK]).await, Ok(n) if n > 0) {}
                    return Ok(());
                }
                Some(HttpAction::BlackHole) => {
                    state.black_holed.fetch_add(1, Ordering::Relaxed);
                    swallowed.store(true, Ordering::SeqCst);
                }
                None => {}
            }
            if tx.send(Msg::Data(due, bytes)).await.is_err() {
                return Ok(());
            }
        }
    }
}

/// Writes what its reader sends, each chunk when due, in order; swallows everything once the
/// connection fell into the black hole.
async fn write_side(mut rx: mpsc::Receiver<Msg>, mut to: impl AsyncWriteExt + Unpin, state: &State, dir: Dir, swallowed: &AtomicBool) -> Result<(), Stop> {
    while let Some(msg) = rx.recv().await {
        match msg {
            Msg::Data(due, chunk) => {
                tokio::time::sleep_until(due).await;
                if let Some(sent) = state.transmission_done(dir, chunk.len()) {
                    tokio::time::sleep_until(sent).await;
                }
                // Once a connection has swallowed a byte it stays dead, even after the heal.
                if state.black_hole.load(Ordering::SeqCst) || swallowed.load(Ordering::SeqCst) {
                    swallowed.store(true, Ordering::SeqCst);
                    continue;
                }
                forward(&mut to, &chunk, state, dir).await?;
            }
            Msg::CloseAfter(answer) => {
                let _ = to.write_all(&answer).await;
                break;
            }
        }
    }
    let _ = to.shutdown().await;
    Ok(())
}

/// The answer S3 gives when it wants a client to slow down.
const SLOW_DOWN: &[u8] = b"HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\nContent-Length: 126\r\nConnection: close\r\n\r\n<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>";

/// A fault applied to HTTP requests that match it (see [`FaultProxy::set_http_faults`]).
#[derive(Debug, Clone)]
pub struct HttpFault {
    /// Request method to match (`GET`, `PUT`, `POST`…); `None` matches any.
    pub method: Option<String>,
    /// A substring the request target (path and query) must contain; `None` matches any.
    pub target_contains: Option<String>,
    /// A substring (case-insensitive) the request's header lines must contain, e.g.
    /// `ReceiveMessage` for SQS's `X-Amz-Target: AmazonSQS.ReceiveMessage`; `None` matches any.
    pub header_contains: Option<String>,
    /// Fraction of matching requests the fault applies to (0.0–1.0), drawn from a seeded
    /// generator so a run is reproducible.
    pub probability: f64,
    pub action: HttpAction,
}

/// What happens to a request an [`HttpFault`] picked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpAction {
    /// Answered `503 Slow Down` (S3's throttling answer) by the proxy, never forwarded; the
    /// connection is closed after the answer.
    SlowDown,
    /// Swallowed with everything after it on its connection: the server never sees it, the
    /// client never gets an answer (a half-open connection at exactly that request).
    BlackHole,
}

/// The start of one request: method and target.
#[derive(Debug, Clone)]
struct RequestHead {
    method: String,
    target: String,
    /// The header lines, lower-cased.
    headers: String,
}

/// Splits a client's byte stream into requests (HTTP/1.1 with `Content-Length` bodies). After a
/// chunked body or an unparseable head it stops framing and passes bytes through.
#[derive(Default)]
struct RequestFramer {
    pending: Vec<u8>,
    body_left: u64,
    transparent: bool,
}

impl RequestFramer {
    /// Feeds bytes; returns them cut into pieces, each with the request head it starts, if any.
    fn push(&mut self, data: Vec<u8>) -> Vec<(Vec<u8>, Option<RequestHead>)> {
        if self.transparent {
            return vec![(data, None)];
        }
        self.pending.extend_from_slice(&data);
        let mut out = Vec::new();
        loop {
            if self.body_left > 0 {
                let take = (self.body_left as usize).min(self.pending.len());
                if take == 0 {
                    break;
                }
                out.push((self.pending.drain(..take).collect(), None));
                self.body_left -= take as u64;
                continue;
            }
            let Some(end) = self.pending.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4) else {
                if self.pending.len() > 64 * 1024 {
                    self.transparent = true;
                    out.push((std::mem::take(&mut self.pending), None));
                }
                break;
            };
            let head_bytes: Vec<u8> = self.pending.drain(..end).collect();
            let text = String::from_utf8_lossy(&head_bytes).into_owned();
            let mut words = text.split_whitespace();
            let head = RequestHead {
                method: words.next().unwrap_or("").to_string(),
                target: words.next().unwrap_or("").to_string(),
                headers: text.to_ascii_lowercase(),
            };
            for line in text.lines().skip(1) {
                let Some((name, value)) = line.split_once(':') else { continue };
                match name.trim().to_ascii_lowercase().as_str() {
                    "content-length" => self.body_left = value.trim().parse().unwrap_or(0),
                    "transfer-encoding" if value.to_ascii_lowercase().contains("chunked") => self.transparent = true,
                    _ => {}
                }
            }
            out.push((head_bytes, Some(head)));
            if self.transparent {
                out.push((std::mem::take(&mut self.pending), None));
                break;
            }
        }
        out
    }
}

/// Writes one chunk, counting bytes and enforcing an armed cut of its direction.
async fn forward(to: &mut (impl AsyncWriteExt + Unpin), chunk: &[u8], state: &State, dir: Dir) -> Result<(), Stop> {
    let (allowed, fire, start) = state.take_budget(dir, chunk.len());
    match (dir == Dir::Down).then(|| state.take_flip(start, allowed)).flatten() {
        Some(i) => {
            let mut bad = chunk[..allowed].to_vec();
            bad[i] = !bad[i];
            to.write_all(&bad).await.map_err(|_| Stop::Io)?;
        }
        None => to.write_all(&chunk[..allowed]).await.map_err(|_| Stop::Io)?,
    }
    if fire {
        let _ = to.flush().await;
        state.fire_cut();
        return Err(Stop::Cut);
    }
    Ok(())
}
