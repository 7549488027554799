//! The kernel SCTP transport over a real Linux SCTP stack.
//!
//! These tests need a kernel with SCTP; `scripts/test-kernel-sctp` builds
//! them statically and runs them in a qemu VM with a stock Debian kernel
//! (`scripts/sctp-vm`), one at a time. Captures go to `$SCTP_VM_OUT` (the
//! VM's output directory, copied back to the host and checked there with
//! tshark and the crate's decoder).

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rserpool::transport::sctp::kernel::{KernelSctp, SEND_WAIT, STALL_TIME};
use rserpool::transport::sctp::{is_sctp, SctpConfig, SctpEvent, SctpTransport, SendInfo};
use rserpool::AssocId;

#[path = "it/support/net.rs"]
mod net_support;

/// Longest wait for one expected event.
const WAIT: Duration = Duration::from_secs(10);

struct Endpoint {
    t: KernelSctp,
    rx: Receiver<SctpEvent>,
}

impl Endpoint {
    fn open_with(config: &SctpConfig, bind: &[&str]) -> Endpoint {
        let bind: Vec<SocketAddr> = bind.iter().map(|a| a.parse().unwrap()).collect();
        let (tx, rx) = mpsc::channel();
        let t = KernelSctp::open(config, &bind, Box::new(move |e| tx.send(e).is_ok()))
            .expect("kernel SCTP endpoint opens (does this kernel have SCTP?)");
        Endpoint { t, rx }
    }

    fn open(bind: &[&str]) -> Endpoint {
        Endpoint::open_with(&SctpConfig::default(), bind)
    }

    fn addr(&self) -> SocketAddr {
        self.t.local_addrs()[0]
    }

    /// The next event that `f` accepts (others are skipped), within `limit`.
    fn expect<T>(&self, limit: Duration, mut f: impl FnMut(&SctpEvent) -> Option<T>) -> T {
        let end = Instant::now() + limit;
        let mut seen = Vec::new();
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(e) => match f(&e) {
                    Some(v) => return v,
                    None => seen.push(e),
                },
                Err(_) => panic!("no expected event within {limit:?}; saw {seen:?}"),
            }
        }
    }

    /// No event that `f` matches arrives within `limit`.
    fn expect_none(&self, limit: Duration, mut f: impl FnMut(&SctpEvent) -> bool) {
        let end = Instant::now() + limit;
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            if let Ok(e) = self.rx.recv_timeout(left) {
                assert!(!f(&e), "unexpected {e:?}");
            }
        }
    }

    /// Waits for `Up` of `assoc` (any association when `None`): its id,
    /// primary and all remote addresses.
    fn up(&self, assoc: Option<AssocId>) -> (AssocId, SocketAddr, Vec<SocketAddr>) {
        self.expect(WAIT, |e| match e {
            SctpEvent::Up {
                assoc: a,
                remote,
                remotes,
            } if assoc.is_none_or(|x| x == *a) => Some((*a, *remote, remotes.clone())),
            _ => None,
        })
    }

    fn message(
        &self,
    ) -> (
        AssocId,
        SocketAddr,
        rserpool::transport::sctp::RecvInfo,
        Vec<u8>,
    ) {
        self.expect(WAIT, |e| match e {
            SctpEvent::Message {
                assoc,
                remote,
                info,
                bytes,
            } => Some((*assoc, *remote, *info, bytes.clone())),
            _ => None,
        })
    }

    fn down(&self, assoc: AssocId) {
        self.expect(WAIT, |e| match e {
            SctpEvent::Down { assoc: a } if *a == assoc => Some(()),
            _ => None,
        })
    }
}

/// Two endpoints with an association from `a` to `b`: (a's id, b's id).
fn pair(a: &mut Endpoint, b: &Endpoint) -> (AssocId, AssocId) {
    let id = a.t.connect(&[b.addr()]).unwrap();
    assert!(is_sctp(id));
    let (ida, remote, _) = a.up(Some(id));
    assert_eq!(remote, b.addr());
    let (idb, _, _) = b.up(None);
    (ida, idb)
}

fn info(ppid: u32, stream: u16, unordered: bool) -> SendInfo {
    SendInfo {
        ppid,
        stream,
        unordered,
    }
}

#[test]
fn two_endpoints_connect_and_both_see_up_with_addresses() {
    let mut a = Endpoint::open(&["127.0.0.1:0"]);
    let b = Endpoint::open(&["127.0.0.1:0"]);
    assert_ne!(a.addr().port(), 0);
    let id = a.t.connect(&[b.addr()]).unwrap();
    let (ida, remote, remotes) = a.up(Some(id));
    assert_eq!((ida, remote), (id, b.addr()));
    assert_eq!(remotes, vec![b.addr()]);
    assert_eq!(a.t.remote(id), Some(b.addr()));
    let (idb, remote_b, remotes_b) = b.up(None);
    assert!(is_sctp(idb));
    assert_eq!(remote_b, a.addr());
    assert_eq!(remotes_b, vec![a.addr()]);
    assert_eq!(b.t.remote(idb), Some(a.addr()));
}

#[test]
fn ppid_stream_and_ordering_arrive_as_sent() {
    let mut a = Endpoint::open(&["127.0.0.1:0"]);
    let mut b = Endpoint::open(&["127.0.0.1:0"]);
    let (ida, idb) = pair(&mut a, &b);
    let sent = [
        (info(11, 0, false), b"asap".to_vec()),
        (info(12, 1, false), b"enrp".to_vec()),
        (info(0, 1, true), b"data, unordered".to_vec()),
        (info(0xdead_beef, 0, false), vec![7u8; 50_000]),
    ];
    for (i, m) in &sent {
        a.t.send(ida, *i, m).unwrap();
    }
    let mut got = Vec::new();
    for _ in 0..sent.len() {
        let (assoc, remote, i, bytes) = b.message();
        assert_eq!((assoc, remote), (idb, a.addr()));
        got.push((i, bytes));
    }
    // Unordered data may overtake; compare as sets keyed by PPID.
    got.sort_by_key(|(i, _)| i.ppid);
    let mut want: Vec<_> = sent.to_vec();
    want.sort_by_key(|(i, _)| i.ppid);
    for ((gi, gb), (wi, wb)) in got.iter().zip(&want) {
        assert_eq!(
            (gi.ppid, gi.stream, gi.unordered),
            (wi.ppid, wi.stream, wi.unordered)
        );
        assert_eq!(gb, wb);
    }
    // And back.
    b.t.send(idb, info(11, 1, false), b"reply").unwrap();
    let (assoc, _, i, bytes) = a.message();
    assert_eq!(
        (assoc, i.ppid, i.stream, &bytes[..]),
        (ida, 11, 1, &b"reply"[..])
    );
}

#[test]
fn a_multi_homed_endpoint_shows_both_addresses_to_its_peer() {
    let mut multi = Endpoint::open(&["127.0.0.1:0", "127.0.0.2:0"]);
    let locals = multi.t.local_addrs();
    assert_eq!(locals.len(), 2);
    assert_eq!(locals[0].port(), locals[1].port());
    assert_eq!(locals[1].ip().to_string(), "127.0.0.2");
    let mut single = Endpoint::open(&["127.0.0.1:0"]);

    // The single-homed side connects to one address and learns both.
    let id = single.t.connect(&[locals[0]]).unwrap();
    let (_, remote, mut remotes) = single.up(Some(id));
    assert_eq!(remote, locals[0]);
    remotes.sort();
    assert_eq!(remotes, locals);
    multi.up(None);

    // The multi-homed side connects and its peer learns both as well.
    let other = Endpoint::open(&["127.0.0.1:0"]);
    let id = multi.t.connect(&[other.addr()]).unwrap();
    multi.up(Some(id));
    let (_, _, mut remotes) = other.up(None);
    remotes.sort();
    assert_eq!(remotes, locals);
    drop(single);
}

#[test]
fn oversized_messages_are_refused_on_send_and_dropped_on_receive() {
    let small = SctpConfig {
        max_message_size: 1000,
        ..SctpConfig::default()
    };
    let mut a = Endpoint::open_with(&small, &["127.0.0.1:0"]);
    let b = Endpoint::open_with(&small, &["127.0.0.1:0"]);
    let (ida, idb) = pair(&mut a, &b);
    let e = a.t.send(ida, info(11, 0, false), &[1; 1001]).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
    a.t.send(ida, info(11, 0, false), &[2; 1000]).unwrap();
    let (_, _, _, bytes) = b.message();
    assert_eq!(bytes, vec![2; 1000]);
    assert!(a.t.send(ida, info(11, 0, false), &[]).is_err());

    // A peer with a larger limit sends 5000 bytes: dropped whole, and the
    // next message arrives.
    let mut big = Endpoint::open(&["127.0.0.1:0"]);
    let id = big.t.connect(&[b.addr()]).unwrap();
    big.up(Some(id));
    let (idb2, _, _) = b.up(None);
    assert_ne!(idb2, idb);
    big.t.send(id, info(11, 0, false), &[3; 5000]).unwrap();
    big.t.send(id, info(11, 0, false), b"small").unwrap();
    let (assoc, _, _, bytes) = b.message();
    assert_eq!((assoc, &bytes[..]), (idb2, &b"small"[..]));
}

#[test]
fn messages_larger_than_one_read_arrive_whole_or_are_dropped_whole() {
    let big = SctpConfig {
        max_message_size: 256 * 1024,
        ..SctpConfig::default()
    };
    let limited = SctpConfig {
        max_message_size: 100_000,
        ..SctpConfig::default()
    };
    let mut a = Endpoint::open_with(&big, &["127.0.0.1:0"]);
    let b = Endpoint::open_with(&big, &["127.0.0.1:0"]);
    let c = Endpoint::open_with(&limited, &["127.0.0.1:0"]);
    let (to_b, _) = pair(&mut a, &b);
    let (to_c, _) = pair(&mut a, &c);
    let msg: Vec<u8> = (0..150_000u32).map(|i| (i % 251) as u8).collect();
    a.t.send(to_b, info(0, 0, false), &msg).unwrap();
    let (_, _, _, bytes) = b.message();
    assert_eq!(bytes.len(), msg.len());
    assert!(bytes == msg);
    // Over the receiver's limit: dropped whole, the next one arrives. (A
    // send waits at most SEND_WAIT for the room the earlier big ones hold.)
    send_when_room(&mut a, to_c, &msg);
    send_when_room(&mut a, to_c, &msg[..99_999]);
    let (_, _, _, bytes) = c.message();
    assert!(bytes[..] == msg[..99_999]);
}

/// Sends `msg` on `assoc`, again while the send buffer has no room (for
/// at most 10 s).
fn send_when_room(e: &mut Endpoint, assoc: AssocId, msg: &[u8]) {
    let end = Instant::now() + WAIT;
    loop {
        match e.t.send(assoc, info(0, 0, false), msg) {
            Ok(()) => return,
            Err(x) if x.kind() == std::io::ErrorKind::WouldBlock && Instant::now() < end => {}
            Err(x) => panic!("not sent: {x}"),
        }
    }
}

#[test]
fn heartbeat_and_retransmission_settings_are_taken() {
    let tuned = SctpConfig {
        streams: 4,
        heartbeat_interval_ms: 500,
        association_max_retransmits: 3,
        ..SctpConfig::default()
    };
    let mut a = Endpoint::open_with(&tuned, &["127.0.0.1:0"]);
    let b = Endpoint::open_with(&tuned, &["127.0.0.1:0"]);
    let (ida, _) = pair(&mut a, &b);
    // Four streams were negotiated: stream 3 works, stream 4 does not.
    a.t.send(ida, info(11, 3, false), b"s3").unwrap();
    let (_, _, i, _) = b.message();
    assert_eq!(i.stream, 3);
    assert!(a.t.send(ida, info(11, 4, false), b"s4").is_err());
}

#[test]
fn sending_on_unknown_associations_fails() {
    let mut a = Endpoint::open(&["127.0.0.1:0"]);
    for id in [AssocId(3), AssocId::NONE, AssocId(0x4000_0000 | 777)] {
        assert!(a.t.send(id, info(11, 0, false), b"x").is_err());
        assert_eq!(a.t.remote(id), None);
        a.t.close(id);
        a.t.abort(id);
    }
}

#[test]
fn connecting_to_a_closed_port_fails_in_bounded_time() {
    let closed = {
        let mut e = Endpoint::open(&["127.0.0.1:0"]);
        let port = e.addr();
        e.t.shutdown();
        port
    };
    let mut a = Endpoint::open(&["127.0.0.1:0"]);
    let start = Instant::now();
    let id = a.t.connect(&[closed]).unwrap();
    assert!(start.elapsed() < Duration::from_secs(1), "connect blocks");
    let remote = a.expect(WAIT, |e| match e {
        SctpEvent::ConnectFailed { assoc, remote } if *assoc == id => Some(*remote),
        SctpEvent::Up { assoc, .. } if *assoc == id => panic!("came up"),
        _ => None,
    });
    assert_eq!(remote, closed);
    assert!(a.t.send(id, info(11, 0, false), b"x").is_err());
}

/// A peer that never answers: `scripts/test-kernel-sctp` routes
/// 192.0.2.0/24 into the VM's loopback from 192.0.2.100, where nothing
/// takes it. The call returns at once; after the INIT retransmissions
/// (one, as configured) the failure comes as ConnectFailed. The endpoint
/// is bound to the wildcard address.
#[test]
fn connecting_to_a_silent_peer_fails_after_the_init_retransmissions() {
    let config = SctpConfig {
        association_max_retransmits: 1,
        ..SctpConfig::default()
    };
    let mut a = Endpoint::open_with(&config, &["0.0.0.0:0"]);
    let nowhere: SocketAddr = "192.0.2.1:3863".parse().unwrap();
    let start = Instant::now();
    let id =
        a.t.connect(&[nowhere])
            .expect("a route to 192.0.2.0/24 (set up by scripts/test-kernel-sctp)");
    assert!(start.elapsed() < Duration::from_secs(1), "connect blocks");
    let remote = a.expect(Duration::from_secs(30), |e| match e {
        SctpEvent::ConnectFailed { assoc, remote } if *assoc == id => Some(*remote),
        SctpEvent::Up { assoc, .. } if *assoc == id => panic!("came up"),
        _ => None,
    });
    assert_eq!(remote, nowhere);
    // Not before the first INIT timed out (initial RTO: 3 s).
    assert!(
        start.elapsed() >= Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn a_peer_abort_or_close_is_reported_down() {
    let mut a = Endpoint::open(&["127.0.0.1:0"]);
    let mut b = Endpoint::open(&["127.0.0.1:0"]);
    let (ida, idb) = pair(&mut a, &b);
    a.t.abort(ida);
    b.down(idb);
    assert_eq!(b.t.remote(idb), None);
    assert!(b.t.send(idb, info(11, 0, false), b"x").is_err());

    let (ida, idb) = pair(&mut a, &b);
    b.t.close(idb);
    a.down(ida);
    // The side that closed or aborted hears nothing more of it.
    b.expect_none(
        Duration::from_millis(500),
        |e| matches!(e, SctpEvent::Down { assoc } if *assoc == idb),
    );
    a.expect_none(Duration::from_millis(100), |e| {
        matches!(e, SctpEvent::Down { .. })
    });
}

#[test]
fn shutdown_is_prompt_and_the_peer_sees_down() {
    let mut a = Endpoint::open(&["127.0.0.1:0"]);
    let mut b = Endpoint::open(&["127.0.0.1:0"]);
    let (ida, idb) = pair(&mut a, &b);
    a.t.send(ida, info(12, 0, false), b"last").unwrap();
    b.message();
    let start = Instant::now();
    a.t.shutdown();
    assert!(
        start.elapsed() < Duration::from_millis(500),
        "{:?}",
        start.elapsed()
    );
    b.down(idb);
    // And the endpoint that shut down is unusable, without panicking.
    assert!(a.t.send(ida, info(12, 0, false), b"x").is_err());
    b.t.shutdown();
}

#[test]
fn a_fixed_port_can_be_bound_again_at_once_after_shutdown() {
    for round in 0..3 {
        let mut server = Endpoint::open(&["127.0.0.1:3864"]);
        let mut client = Endpoint::open(&["127.0.0.1:0"]);
        let (_, ids) = pair(&mut client, &server);
        server.t.send(ids, info(11, 0, false), b"bye").unwrap();
        client.message();
        server.t.shutdown();
        client.expect(WAIT, |e| matches!(e, SctpEvent::Down { .. }).then_some(()));
        drop(client);
        assert_eq!(server.addr().port(), 3864, "round {round}");
    }
}

#[test]
fn ipv6_endpoints_connect() {
    let mut a = Endpoint::open(&["[::1]:0"]);
    let b = Endpoint::open(&["[::1]:0"]);
    let (ida, _) = pair(&mut a, &b);
    a.t.send(ida, info(11, 0, false), b"v6").unwrap();
    let (_, remote, i, bytes) = b.message();
    assert_eq!((remote, i.ppid, &bytes[..]), (a.addr(), 11, &b"v6"[..]));
    // An IPv6 endpoint also bound to an IPv4 address reaches IPv4 peers.
    let mut dual = Endpoint::open(&["[::1]:0", "127.0.0.1:0"]);
    let v4 = Endpoint::open(&["127.0.0.1:0"]);
    let id = dual.t.connect(&[v4.addr()]).unwrap();
    dual.up(Some(id));
    let (_, _, mut remotes) = v4.up(None);
    remotes.sort();
    assert!(remotes.contains(&dual.t.local_addrs()[1]), "{remotes:?}");
}

/// Where captures go: `$SCTP_VM_OUT` in the VM, else a temporary directory.
fn capture_dir() -> PathBuf {
    let dir = std::env::var_os("SCTP_VM_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("sctp-kernel-captures"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Every frame on the VM's interfaces (loopback only) written to a pcap
/// file, as the kernel sent it: an `AF_PACKET` socket, like tcpdump's.
struct WireCapture {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<std::io::Result<usize>>>,
}

impl WireCapture {
    fn start(name: &str) -> WireCapture {
        use socket2::{Domain, Protocol, Socket, Type};
        let all = i32::from((libc::ETH_P_ALL as u16).to_be());
        let sock = Socket::new(
            Domain::from(libc::AF_PACKET),
            Type::from(libc::SOCK_RAW),
            Some(Protocol::from(all)),
        )
        .expect("a packet socket (the tests run as root in the VM)");
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let path = capture_dir().join(name);
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            std::thread::spawn(move || -> std::io::Result<usize> {
                let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
                // Classic pcap, microseconds, LINKTYPE_ETHERNET (loopback
                // frames carry an all-zero Ethernet header).
                out.write_all(&0xa1b2_c3d4u32.to_le_bytes())?;
                out.write_all(&2u16.to_le_bytes())?;
                out.write_all(&4u16.to_le_bytes())?;
                out.write_all(&[0; 8])?;
                out.write_all(&65_535u32.to_le_bytes())?;
                out.write_all(&1u32.to_le_bytes())?;
                let mut buf = vec![0u8; 65_536];
                let mut frames = 0;
                let mut recent: Vec<Vec<u8>> = Vec::new();
                let mut sock = &sock;
                // Bounded by the stop flag and the read timeout.
                while !stop.load(Ordering::Relaxed) {
                    let n = match sock.read(&mut buf) {
                        Ok(n) => n,
                        Err(e)
                            if matches!(
                                e.kind(),
                                std::io::ErrorKind::WouldBlock
                                    | std::io::ErrorKind::TimedOut
                                    | std::io::ErrorKind::Interrupted
                            ) =>
                        {
                            continue
                        }
                        Err(e) => return Err(e),
                    };
                    // Loopback frames are seen twice (going out, coming in).
                    if recent.iter().any(|r| r[..] == buf[..n]) {
                        continue;
                    }
                    if recent.len() == 4 {
                        recent.remove(0);
                    }
                    recent.push(buf[..n].to_vec());
                    let t = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap_or_default();
                    out.write_all(&(t.as_secs() as u32).to_le_bytes())?;
                    out.write_all(&t.subsec_micros().to_le_bytes())?;
                    out.write_all(&(n as u32).to_le_bytes())?;
                    out.write_all(&(n as u32).to_le_bytes())?;
                    out.write_all(&buf[..n])?;
                    frames += 1;
                }
                out.flush()?;
                Ok(frames)
            })
        };
        WireCapture {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops and returns how many frames were written.
    fn finish(mut self) -> usize {
        // Let the last frames arrive.
        std::thread::sleep(Duration::from_millis(200));
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap().unwrap()
    }
}

impl Drop for WireCapture {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A HANDLE_RESOLUTION for the pool `echo`.
fn asap_message() -> Vec<u8> {
    use rserpool::wire::{asap_type, MessageBuilder};
    let mut buf = [0u8; 64];
    let mut b = MessageBuilder::asap(&mut buf, asap_type::HANDLE_RESOLUTION, 0).unwrap();
    b.pool_handle(b"echo").unwrap();
    let n = b.finish().unwrap();
    buf[..n].to_vec()
}

/// A LIST_REQUEST from registrar 1 to registrar 2.
fn enrp_message() -> Vec<u8> {
    use rserpool::wire::{enrp_type, MessageBuilder};
    use rserpool::ServerId;
    let mut buf = [0u8; 64];
    let b = MessageBuilder::enrp(
        &mut buf,
        enrp_type::LIST_REQUEST,
        0,
        ServerId::new(1).unwrap(),
        ServerId::new(2).ok(),
    )
    .unwrap();
    let n = b.finish().unwrap();
    buf[..n].to_vec()
}

/// ASAP on port 3863 and ENRP on port 9901 with their PPIDs, captured on
/// the wire into `transport-wire.pcap`; the host checks the capture with
/// tshark and the crate's decoder (`scripts/test-kernel-sctp`).
#[test]
fn asap_and_enrp_go_on_the_wire_with_their_ppids() {
    let capture = WireCapture::start("transport-wire.pcap");
    let mut pu = Endpoint::open(&["127.0.0.1:0"]);
    let mut pr = Endpoint::open(&["127.0.0.1:3863"]);
    let (to_pr, from_pu) = pair(&mut pu, &pr);
    pu.t.send(to_pr, info(11, 0, false), &asap_message())
        .unwrap();
    let (_, _, i, bytes) = pr.message();
    assert_eq!((i.ppid, bytes), (11, asap_message()));
    pr.t.send(from_pu, info(11, 0, false), &asap_message())
        .unwrap();
    pu.message();

    let mut enrp_a = Endpoint::open(&["127.0.0.1:9901"]);
    let enrp_b = Endpoint::open(&["127.0.0.2:9901"]);
    let (to_b, _) = pair(&mut enrp_a, &enrp_b);
    enrp_a
        .t
        .send(to_b, info(12, 0, false), &enrp_message())
        .unwrap();
    let (_, _, i, bytes) = enrp_b.message();
    assert_eq!((i.ppid, bytes), (12, enrp_message()));
    drop((pu, pr, enrp_a, enrp_b));
    let frames = capture.finish();
    // INIT, INIT-ACK, COOKIE-ECHO, COOKIE-ACK, DATA, SACK ... at least.
    assert!(frames >= 10, "{frames} frames");
}

// ---------------------------------------------------------------------------
// A pool over kernel SCTP: the runtime's nodes with `NodeConfig::sctp` set.
// ---------------------------------------------------------------------------

mod pool {
    use super::{capture_dir, WireCapture};
    use crate::net_support::{self, element, pool, registered, wait_for};
    use rserpool::capture::{CapturedMessage, Encapsulation, PcapReader};
    use rserpool::runtime::blocking::{PoolUserNode, RegistrarNode};
    use rserpool::runtime::NodeConfig;
    use rserpool::transport::sctp::SctpKind;
    use rserpool::wire::{AsapMessage, Protocol};
    use rserpool::ServerId;
    use std::collections::BTreeSet;
    use std::net::{IpAddr, SocketAddr};
    use std::time::Duration;

    /// A node on kernel SCTP bound to `bind` (and `also`), writing its
    /// traffic to `capture` in the capture directory.
    fn node(bind: &str, also: &[&str], capture: Option<&str>) -> NodeConfig {
        let mut n = NodeConfig::new(bind.parse().unwrap());
        n.also_bind = also.iter().map(|a| a.parse().unwrap()).collect();
        n.sctp = Some(SctpKind::Kernel);
        n.capture = capture.map(|c| capture_dir().join(c));
        n
    }

    /// A registrar on `ip`, ASAP on 3863, ENRP (when `peers` is given) on
    /// 9901: the well-known ports, as in a real deployment.
    fn registrar(
        id: u32,
        ip: &str,
        peers: Option<&[SocketAddr]>,
        capture: Option<&str>,
    ) -> RegistrarNode {
        let mut n = node(&format!("{ip}:3863"), &[], capture);
        if peers.is_some() {
            n.enrp_bind = Some(format!("{ip}:9901").parse().unwrap());
        }
        net_support::registrar(id, peers, n)
    }

    fn user(registrars: &[SocketAddr]) -> PoolUserNode {
        net_support::user(registrars, node("127.0.0.1:0", &[], None))
    }

    /// The ASAP/ENRP messages of a capture, each checked to be SCTP (not
    /// UDP or TCP) and to parse.
    fn sctp_messages(name: &str) -> Vec<CapturedMessage> {
        let path = capture_dir().join(name);
        let mut out = Vec::new();
        for m in PcapReader::open(&path).unwrap() {
            let m = m.unwrap();
            // The UDP sockets' empty wake-up datagram at shutdown is no
            // message.
            if m.encapsulation == Encapsulation::Udp && m.bytes.is_empty() {
                continue;
            }
            assert_eq!(
                m.encapsulation,
                Encapsulation::Sctp,
                "{name}: not SCTP: {m:?}"
            );
            out.push(m);
        }
        out
    }

    /// (protocol, message type, source port, destination port) of each.
    fn kinds(ms: &[CapturedMessage]) -> Vec<(Protocol, u8, u16, u16)> {
        ms.iter()
            .map(|m| (m.protocol, m.bytes[0], m.src.port(), m.dst.port()))
            .collect()
    }

    #[test]
    fn pool_registration_and_resolution() {
        let wire = WireCapture::start("pool-wire.pcap");
        let r = registrar(1, "127.0.0.1", None, Some("pool-registrar.pcap"));
        assert_eq!(r.local_addr().port(), 3863);
        let pes: Vec<_> = (0..3)
            .map(|i| element(&[r.local_addr()], 10 + i, node("127.0.0.1:0", &[], None)))
            .collect();
        assert!(wait_for(Duration::from_secs(10), || registered(&r, 3)));
        let u = user(&[r.local_addr()]);
        net_support::requests_reach_every_element(&u, &pes);
        let status = r.status().unwrap();
        assert_eq!(status.wrong_ppid, 0);
        // Three PEs and the user, each on one association.
        assert_eq!(status.sctp_associations, 4);
        drop((u, pes));
        r.shutdown();
        assert!(wire.finish() > 0);
        // On the wire and in the registrar's own capture: REGISTRATION and
        // HANDLE_RESOLUTION to 3863, their responses from it, over SCTP.
        for name in ["pool-wire.pcap", "pool-registrar.pcap"] {
            let k = kinds(&sctp_messages(name));
            for (t, to_registrar) in [(0x01, true), (0x03, false), (0x05, true), (0x06, false)] {
                assert!(
                    k.iter().any(|&(p, mt, s, d)| p == Protocol::Asap
                        && mt == t
                        && (if to_registrar { d } else { s }) == 3863),
                    "{name}: ASAP type {t:#x} missing: {k:?}"
                );
            }
        }
    }

    #[test]
    fn killed_pool_element_fails_over_without_loss() {
        let r = registrar(1, "127.0.0.1", None, None);
        // The PE's associations go down at once (SCTP SHUTDOWN): the
        // registrar drops it.
        net_support::killed_element_fails_over_without_loss(
            &r,
            || node("127.0.0.1:0", &[], None),
            20,
            Duration::from_secs(10),
        );
    }

    #[test]
    fn killed_registrar_its_elements_register_with_the_other() {
        let wire = WireCapture::start("reregister-wire.pcap");
        let a = registrar(1, "127.0.0.1", Some(&[]), None);
        let a_enrp = a.enrp_addr().unwrap();
        assert_eq!(a_enrp.port(), 9901);
        let b = registrar(
            2,
            "127.0.0.2",
            Some(&[a_enrp]),
            Some("reregister-registrar.pcap"),
        );
        let both = [a.local_addr(), b.local_addr()];
        let _pes: Vec<_> = (0..2)
            .map(|i| element(&both, 90 + i, node("127.0.0.1:0", &[], None)))
            .collect();
        assert!(wait_for(Duration::from_secs(15), || {
            let (sa, sb) = (a.status().unwrap(), b.status().unwrap());
            sa.owned == 2 && sb.elements.len() == 2 && sb.owned == 0
        }));
        assert_eq!(b.status().unwrap().peers, vec![ServerId::new(1).unwrap()]);
        a.shutdown();
        assert!(wait_for(Duration::from_secs(15), || b
            .status()
            .is_some_and(|s| s.owned == 2 && s.elements.len() == 2)));
        let u = user(&both);
        for i in 0..4u8 {
            let (_, reply) = u.request(&pool(), &[i], Duration::from_secs(8)).unwrap();
            assert_eq!(reply, vec![i]);
        }
        drop(u);
        b.shutdown();
        wire.finish();
        // ENRP between the registrars on 9901, ASAP to 3863, all SCTP.
        for name in ["reregister-wire.pcap", "reregister-registrar.pcap"] {
            let k = kinds(&sctp_messages(name));
            assert!(
                k.iter()
                    .any(|&(p, _, s, d)| p == Protocol::Enrp && s == 9901 && d == 9901),
                "{name}: no ENRP between 9901 ports: {k:?}"
            );
            assert!(
                k.iter()
                    .any(|&(p, t, _, d)| p == Protocol::Asap && t == 0x01 && d == 3863),
                "{name}: no REGISTRATION to 3863: {k:?}"
            );
        }
    }

    /// Three registrars; the PEs register with the first (and trust the
    /// others' hosts to take them over). When it dies, one of
    /// the others takes its PEs over by ENRP (INIT_TAKEOVER, its ACK,
    /// TAKEOVER_SERVER), reaches them by ASAP keep-alives, and they
    /// register again with it.
    #[test]
    fn killed_registrar_is_taken_over_by_enrp_and_its_elements_register_again() {
        let wire = WireCapture::start("enrp-takeover-wire.pcap");
        let a = registrar(1, "127.0.0.1", Some(&[]), None);
        let a_enrp = a.enrp_addr().unwrap();
        let b = registrar(
            2,
            "127.0.0.2",
            Some(&[a_enrp]),
            Some("enrp-takeover-b.pcap"),
        );
        let c = registrar(
            3,
            "127.0.0.3",
            Some(&[a_enrp, b.enrp_addr().unwrap()]),
            Some("enrp-takeover-c.pcap"),
        );
        let pes: Vec<_> = (0..2)
            .map(|i| {
                let trusted = [b.local_addr().ip(), c.local_addr().ip()];
                let node = node("127.0.0.1:0", &[], None);
                net_support::element_trusting(&[a.local_addr()], &trusted, 95 + i, node)
            })
            .collect();
        assert!(wait_for(Duration::from_secs(15), || {
            [&a, &b, &c].iter().all(|r| registered(r, 2))
                && a.status().unwrap().owned == 2
                && b.status().unwrap().peers.len() == 2
                && c.status().unwrap().peers.len() == 2
        }));
        let registrations_before = pes.iter().map(|p| p.registrations()).sum::<u64>();
        a.shutdown();
        // One of the two owns both PEs, the other knows them.
        let new_home = || {
            let (sb, sc) = (b.status().unwrap(), c.status().unwrap());
            match (sb.owned, sc.owned, sb.elements.len(), sc.elements.len()) {
                (2, 0, 2, 2) => Some(&b),
                (0, 2, 2, 2) => Some(&c),
                _ => None,
            }
        };
        assert!(wait_for(Duration::from_secs(20), || new_home().is_some()));
        let home = new_home().unwrap();
        // The PEs register again (now with their new home).
        assert!(wait_for(Duration::from_secs(10), || pes
            .iter()
            .map(|p| p.registrations())
            .sum::<u64>()
            >= registrations_before + 2));
        let u = user(&[b.local_addr(), c.local_addr()]);
        for i in 0..4u8 {
            let (_, reply) = u.request(&pool(), &[i], Duration::from_secs(8)).unwrap();
            assert_eq!(reply, vec![i]);
        }
        let home_port_ip = home.local_addr();
        let home_is_b = home_port_ip == b.local_addr();
        drop((u, pes));
        b.shutdown();
        c.shutdown();
        wire.finish();
        let wire_kinds = kinds(&sctp_messages("enrp-takeover-wire.pcap"));
        // ENRP_INIT_TAKEOVER (7), its ACK (8) and TAKEOVER_SERVER (9)
        // between 9901 ports.
        for t in [0x07u8, 0x08, 0x09] {
            assert!(
                wire_kinds
                    .iter()
                    .any(|&(p, mt, s, d)| p == Protocol::Enrp && mt == t && s == 9901 && d == 9901),
                "no ENRP type {t:#x}: {wire_kinds:?}"
            );
        }
        // The new home's keep-alives (7) to the PEs and their
        // REGISTRATIONs (1) to it, in its own capture.
        let name = if home_is_b {
            "enrp-takeover-b.pcap"
        } else {
            "enrp-takeover-c.pcap"
        };
        let ms = sctp_messages(name);
        let asap = |t: u8, to_home: bool| {
            ms.iter().any(|m| {
                m.protocol == Protocol::Asap
                    && m.bytes[0] == t
                    && (if to_home { m.dst } else { m.src }) == home_port_ip
            })
        };
        assert!(
            asap(0x07, false),
            "{name}: no ENDPOINT_KEEP_ALIVE from the new home"
        );
        assert!(asap(0x01, true), "{name}: no REGISTRATION to the new home");
    }

    /// Messages with the wrong PPID for an endpoint are dropped and
    /// counted; garbage with the right PPID, cut messages and an oversized
    /// one leave the registrar running with its handlespace intact.
    #[test]
    fn wrong_ppids_and_garbage_over_sctp_leave_the_registrar_intact() {
        use super::{info, Endpoint};
        use rserpool::transport::sctp::SctpTransport;
        let r = registrar(1, "127.0.0.1", Some(&[]), None);
        let _pes: Vec<_> = (0..2)
            .map(|i| element(&[r.local_addr()], 60 + i, node("127.0.0.1:0", &[], None)))
            .collect();
        assert!(wait_for(Duration::from_secs(10), || registered(&r, 2)));
        let before = r.status().unwrap().elements;
        let mut raw = Endpoint::open_with(
            &rserpool::transport::sctp::SctpConfig {
                max_message_size: 200_000,
                ..Default::default()
            },
            &["127.0.0.1:0"],
        );
        let asap = raw.t.connect(&[r.local_addr()]).unwrap();
        raw.up(Some(asap));
        let enrp = raw.t.connect(&[r.enrp_addr().unwrap()]).unwrap();
        raw.up(Some(enrp));
        // A REGISTRATION header under the wrong PPIDs (ENRP, data, DTLS on
        // the ASAP port; ASAP on the ENRP port).
        let registration = [0x01u8, 0x00, 0x00, 0x04];
        for ppid in [12, 0, 47] {
            raw.t
                .send(asap, info(ppid, 0, false), &registration)
                .unwrap();
        }
        raw.t.send(enrp, info(11, 0, false), &registration).unwrap();
        assert!(wait_for(Duration::from_secs(5), || r
            .status()
            .is_some_and(|s| s.wrong_ppid == 4)));
        let mut garbage = vec![0u8; 1500];
        let mut x: u32 = 0x1234_5678;
        for b in &mut garbage {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            *b = x as u8;
        }
        // Larger than any message the registrar takes.
        let mut oversized = vec![0x01u8; 150_000];
        oversized[2] = 0xff;
        oversized[3] = 0xff;
        for m in [
            &garbage[..],
            &[0x01, 0x00, 0x01, 0x00, 0x80][..],
            &[0x0b][..],
            &oversized[..],
        ] {
            for stream in [0, 1] {
                // Sent for sure, or nothing here is tested; a full send
                // buffer (the oversized ones under emulation) is waited on.
                for (assoc, ppid, unordered) in [(asap, 11, stream == 1), (enrp, 12, false)] {
                    let end = std::time::Instant::now() + Duration::from_secs(20);
                    loop {
                        match raw.t.send(assoc, info(ppid, stream, unordered), m) {
                            Ok(()) => break,
                            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                                assert!(std::time::Instant::now() < end, "garbage not sent: {e}");
                            }
                            Err(e) => panic!("garbage not sent (PPID {ppid}): {e}"),
                        }
                    }
                }
            }
        }
        std::thread::sleep(Duration::from_millis(500));
        let status = r.status().expect("the registrar still runs");
        assert_eq!(status.elements, before);
        assert_eq!(status.wrong_ppid, 4);
        raw.t.shutdown();
        let u = user(&[r.local_addr()]);
        let (_, reply) = u.request(&pool(), b"ok", Duration::from_secs(5)).unwrap();
        assert_eq!(reply, b"ok");
    }

    #[test]
    fn a_multi_homed_pool_element_registers_both_addresses() {
        let wire = WireCapture::start("multihomed-wire.pcap");
        let r = registrar(1, "127.0.0.1", None, Some("multihomed-registrar.pcap"));
        let pe = element(
            &[r.local_addr()],
            40,
            node("127.0.0.1:0", &["127.0.0.2:0"], None),
        );
        assert!(wait_for(Duration::from_secs(10), || registered(&r, 1)));
        let u = user(&[r.local_addr()]);
        let (id, reply) = u.request(&pool(), b"mh", Duration::from_secs(5)).unwrap();
        assert_eq!((id, &reply[..]), (pe.pe_id(), &b"mh"[..]));
        drop((u, pe));
        r.shutdown();
        wire.finish();
        let want: BTreeSet<IpAddr> = ["127.0.0.1", "127.0.0.2"]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect();
        for name in ["multihomed-wire.pcap", "multihomed-registrar.pcap"] {
            let ms = sctp_messages(name);
            let mut found = false;
            for m in ms.iter().filter(|m| m.protocol == Protocol::Asap) {
                if let Ok(AsapMessage::Registration { pool_element, .. }) =
                    AsapMessage::parse(&m.bytes)
                {
                    let t = pool_element.user_transport.transport().unwrap();
                    assert_eq!(t.protocol, rserpool::addr::TransportProtocol::Sctp);
                    let addrs: BTreeSet<IpAddr> = t.addresses.iter().collect();
                    assert_eq!(addrs, want, "{name}: the registration's addresses");
                    found = true;
                }
            }
            assert!(found, "{name}: no REGISTRATION");
        }
    }
}

/// A peer that does not read (its reader is held in its sink) fills the
/// socket's send buffer, which the kernel counts for every association of
/// the endpoint together: once its window has stayed closed for
/// `STALL_TIME` its association is aborted and reported down, no send
/// waits longer than `SEND_WAIT` meanwhile (it waited 500 ms each before),
/// and another peer's message goes through at once afterwards.
#[test]
fn a_peer_that_does_not_read_is_aborted_and_stalls_no_one() {
    let mut a = Endpoint::open(&["127.0.0.1:0"]);
    let c = Endpoint::open(&["127.0.0.1:0"]);
    let (ac, _) = pair(&mut a, &c);
    // b does not read: its reader is held at the first message.
    let (sink, up_rx, release_tx) = net_support::held_reader();
    let mut b = KernelSctp::open(
        &SctpConfig::default(),
        &["127.0.0.1:0".parse().unwrap()],
        sink,
    )
    .unwrap();
    let ab = a.t.connect(&[b.local_addrs()[0]]).unwrap();
    a.up(Some(ab));
    up_rx.recv_timeout(WAIT).unwrap();
    let msg = vec![0x5a; 8192];
    let (mut sent, mut refused, mut longest) = (0u32, 0u32, Duration::ZERO);
    let start = Instant::now();
    let end = start + Duration::from_secs(30);
    while a.t.stalled_aborted() == 0 && Instant::now() < end {
        let t = Instant::now();
        let r = a.t.send(ab, info(11, 0, false), &msg);
        longest = longest.max(t.elapsed());
        match r {
            Ok(()) => sent += 1,
            Err(_) => {
                refused += 1;
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    }
    assert_eq!(a.t.stalled_aborted(), 1, "sent {sent}, refused {refused}");
    // SEND_WAIT, with room for the emulated machine's timer slack.
    assert!(
        longest < SEND_WAIT + Duration::from_millis(150),
        "a send waited {longest:?}"
    );
    assert!(start.elapsed() >= STALL_TIME);
    a.down(ab);
    assert!(a.t.send(ab, info(11, 0, false), b"x").is_err());
    // The buffer b held is free: c's message leaves at once and arrives.
    let t = Instant::now();
    a.t.send(ac, info(11, 0, false), b"next").unwrap();
    assert!(t.elapsed() < Duration::from_millis(100));
    let (_, _, _, bytes) = c.message();
    assert_eq!(bytes, b"next");
    eprintln!(
        "stalled peer: {sent} messages of 8 KiB taken, {refused} refused, longest send {longest:?}"
    );
    drop(release_tx);
    b.shutdown();
}
