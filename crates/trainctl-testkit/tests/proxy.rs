//! The fault proxy forwards bytes, adds latency and cuts connections on demand.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use trainctl_testkit::FaultProxy;

/// A TCP echo server on a free loopback port, one thread per connection.
fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut c = conn;
                let mut buf = [0u8; 65536];
                while let Ok(n) = c.read(&mut buf) {
                    if n == 0 || c.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

fn eventually(cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !cond() {
        assert!(Instant::now() < deadline, "condition not met within 5 s");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn connect(proxy: &FaultProxy) -> TcpStream {
    let s = TcpStream::connect(proxy.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

fn roundtrip(s: &mut TcpStream, msg: &[u8]) -> Vec<u8> {
    s.write_all(msg).unwrap();
    let mut back = vec![0u8; msg.len()];
    s.read_exact(&mut back).unwrap();
    back
}

#[test]
fn forwards_bytes_both_ways_and_counts_them() {
    let proxy = FaultProxy::start(echo_server()).unwrap();
    let mut s = connect(&proxy);
    let msg: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let writer = {
        let mut w = s.try_clone().unwrap();
        let msg = msg.clone();
        std::thread::spawn(move || w.write_all(&msg).unwrap())
    };
    let mut back = vec![0u8; msg.len()];
    s.read_exact(&mut back).unwrap();
    writer.join().unwrap();
    assert_eq!(back, msg);
    assert_eq!(proxy.connections(), 1);
    assert_eq!(proxy.bytes_upstream(), 200_000);
    // counted after the write returns, which may be just after the client read the bytes
    eventually(|| proxy.bytes_downstream() == 200_000);
}

#[test]
fn adds_the_configured_round_trip_time() {
    let proxy = FaultProxy::start(echo_server()).unwrap();
    proxy.set_rtt(Duration::from_millis(40));
    let mut s = connect(&proxy);
    roundtrip(&mut s, b"warm-up"); // the first exchange also pays the emulated handshake
    let started = Instant::now();
    assert_eq!(roundtrip(&mut s, b"ping"), b"ping");
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(40), "round trip took {took:?}");
    assert!(took < Duration::from_millis(400), "round trip took {took:?}");
}

#[test]
fn latency_does_not_cap_bandwidth() {
    let proxy = FaultProxy::start(echo_server()).unwrap();
    proxy.set_rtt(Duration::from_millis(20));
    let mut s = connect(&proxy);
    roundtrip(&mut s, b"warm-up");
    let total = 32 * 1024 * 1024;
    let writer = {
        let mut w = s.try_clone().unwrap();
        std::thread::spawn(move || {
            let chunk = vec![1u8; 64 * 1024];
            for _ in 0..total / chunk.len() {
                w.write_all(&chunk).unwrap();
            }
        })
    };
    let started = Instant::now();
    let mut got = 0;
    let mut buf = vec![0u8; 1 << 20];
    while got < total {
        got += s.read(&mut buf).unwrap();
    }
    writer.join().unwrap();
    // 512 sequential 64 KiB reads each waiting 20 ms would take > 10 s.
    assert!(started.elapsed() < Duration::from_secs(3), "32 MiB took {:?}", started.elapsed());
}

#[test]
fn cuts_all_connections_after_n_upstream_bytes_once() {
    let proxy = FaultProxy::start(echo_server()).unwrap();
    let mut a = connect(&proxy);
    let mut b = connect(&proxy);
    assert_eq!(roundtrip(&mut a, &[1u8; 100]), vec![1u8; 100]);
    assert_eq!(roundtrip(&mut b, &[2u8; 100]), vec![2u8; 100]);
    proxy.cut_after_upstream_bytes(1000);
    let _ = a.write_all(&[3u8; 5000]);
    let mut sink = Vec::new();
    let read_a = a.read_to_end(&mut sink);
    assert!(read_a.is_err() || sink.len() <= 1000, "a got {} bytes back", sink.len());
    assert_eq!(proxy.cuts(), 1);
    assert_eq!(proxy.bytes_upstream(), 200 + 1000);
    let mut buf = [0u8; 1];
    let read_b = b.read(&mut buf);
    assert!(matches!(read_b, Ok(0) | Err(_)), "b still open: {read_b:?}");
    // one-shot: a new connection works normally
    let mut c = connect(&proxy);
    assert_eq!(roundtrip(&mut c, &[4u8; 5000]), vec![4u8; 5000]);
    assert_eq!(proxy.cuts(), 1);
}

#[test]
fn disarmed_cut_never_fires() {
    let proxy = FaultProxy::start(echo_server()).unwrap();
    proxy.cut_after_upstream_bytes(10);
    proxy.disarm_cut();
    let mut s = connect(&proxy);
    assert_eq!(roundtrip(&mut s, &[9u8; 100]), vec![9u8; 100]);
    assert_eq!(proxy.cuts(), 0);
}

#[test]
fn dropping_the_proxy_closes_its_port() {
    let proxy = FaultProxy::start(echo_server()).unwrap();
    let addr = proxy.addr();
    drop(proxy);
    assert!(TcpStream::connect(addr).is_err());
}
