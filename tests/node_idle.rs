//! What thousands of idle TCP connections cost a registrar node: no
//! thread, and a few MB. A test binary of its own with this one test, so
//! that the process's thread count and resident memory change only with
//! what the test does (the tests of one binary run in parallel in one
//! process).
//!
//! ```text
//! cargo test --release --test node_idle -- --nocapture
//! ```

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use rserpool::registrar::RegistrarConfig;
use rserpool::runtime::blocking::RegistrarNode;
use rserpool::runtime::{NodeConfig, TcpConfig};
use rserpool::wire::AsapMessage;
use rserpool::{PoolHandle, ServerId};

/// The idle connections.
const CONNECTIONS: usize = 3000;

/// What they may add to the process's resident memory, both ends of every
/// connection in this process (the registrar's side costs about 4 KiB each:
/// its task, its queues, its table entries; the client's side is a file
/// descriptor; the kernel's socket memory is not resident memory of the
/// process).
const RSS_BOUND_KIB: u64 = 16 << 10;

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// The soft limit of open files, from `/proc/self/limits`.
fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let soft = line.split_whitespace().nth(3)?;
    if soft == "unlimited" {
        return Some(u64::MAX);
    }
    soft.parse().ok()
}

fn resolution(pool: &PoolHandle) -> Vec<u8> {
    let m = AsapMessage::HandleResolution {
        subscribe: false,
        pool_handle: pool.as_bytes(),
        items: None,
    };
    let mut buf = vec![0; m.buffer_len()];
    let n = m.emit(&mut buf).unwrap();
    buf.truncate(n);
    buf
}

/// One resolution over `s` (of a pool the registrar does not know: the
/// answer names the error): the answer's message type.
fn ask(s: &mut TcpStream, pool: &PoolHandle) -> u8 {
    s.write_all(&resolution(pool)).unwrap();
    let mut h = [0u8; 4];
    s.read_exact(&mut h).unwrap();
    let len = usize::from(u16::from_be_bytes([h[2], h[3]]));
    let mut rest = vec![0u8; len.div_ceil(4) * 4 - 4];
    s.read_exact(&mut rest).unwrap();
    h[0]
}

#[test]
fn three_thousand_idle_connections_cost_a_registrar_no_thread_and_a_few_mb() {
    // Both ends of every connection are in this process, plus a margin.
    let needed = 2 * CONNECTIONS as u64 + 200;
    let limit = open_files_limit().expect("the limits of this process");
    assert!(
        limit >= needed,
        "this test needs {needed} open files (both ends of {CONNECTIONS} connections); the limit is {limit}: raise it (`ulimit -n`)"
    );
    let mut config = RegistrarConfig::rsplib(ServerId::new(0x1d1e_0001).unwrap());
    config.announce = false;
    let r = RegistrarNode::start(
        config,
        NodeConfig {
            listen_tcp: true,
            tcp: TcpConfig {
                max_connections: CONNECTIONS,
                ..TcpConfig::default()
            },
            ..NodeConfig::new("127.0.0.1:0".parse().unwrap())
        },
    )
    .expect("registrar starts");
    let to = r.local_addr();
    let pool = PoolHandle::new(b"idle").unwrap();
    // The shared runtime's threads are running now, and a first
    // connection has been served.
    {
        let mut s = TcpStream::connect(to).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        ask(&mut s, &pool);
    }
    assert!(wait(|| r.status().unwrap().tcp_connections == 0));
    let threads_before = threads();
    let rss_before = rss_kib();
    let t0 = Instant::now();
    let mut conns: Vec<TcpStream> = (0..CONNECTIONS)
        .map(|_| TcpStream::connect(to).unwrap())
        .collect();
    assert!(
        wait(|| r.status().unwrap().tcp_connections == CONNECTIONS),
        "every connection accepted"
    );
    let took = t0.elapsed();
    let threads_after = threads();
    let rss_after = rss_kib();
    let grown = rss_after.saturating_sub(rss_before);
    eprintln!(
        "figure: {CONNECTIONS} idle TCP connections to a registrar node (accepted in {took:?}): threads {threads_before} -> {threads_after}, RSS {rss_before} -> {rss_after} KiB (+{grown} KiB, {} bytes per connection, both ends in this process)",
        grown * 1024 / CONNECTIONS as u64
    );
    assert_eq!(threads_after, threads_before, "no thread per connection");
    assert!(
        grown < RSS_BOUND_KIB,
        "{CONNECTIONS} idle connections add less than {RSS_BOUND_KIB} KiB (+{grown} KiB)"
    );
    // They are served, the first and the last.
    for i in [0, CONNECTIONS - 1] {
        conns[i]
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        assert_eq!(ask(&mut conns[i], &pool), 0x06, "a resolution response");
    }
    // The next one is beyond the cap: closed at once.
    let mut next = TcpStream::connect(to).unwrap();
    next.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 16];
    let closed = !matches!(next.read(&mut buf), Ok(n) if n > 0);
    assert!(closed, "the connection beyond the cap is closed");
    assert!(wait(|| r
        .status()
        .unwrap()
        .transport
        .tcp
        .refused_connections
        == 1));
    drop(conns);
    assert!(wait(|| r.status().unwrap().tcp_connections == 0));
}

/// Waits until `f` holds, at most 30 s; whether it held.
fn wait(mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + Duration::from_secs(30);
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    f()
}
