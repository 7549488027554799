//! The tokio TCP transport (`transport::tokio::tcp`) over real sockets on
//! 127.0.0.1 (ephemeral ports): a peer that does not read loses its
//! connection while the others are answered in time, thousands of idle
//! connections without a thread each and a cap beyond them, the idle and
//! connect timeouts, framing, back-pressure.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rserpool::transport::tokio::{
    tcp, DownReason, Endpoint, Input, Net, OpenError, SendError, TcpConfig, TcpEndpoints,
    UdpConfig, Via,
};
use rserpool::transport::Payload;
use rserpool::wire::Protocol;
use rserpool::AssocId;

fn local() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// An ASAP frame of `len` bytes (a multiple of 4): the common header with
/// its Message Length, then `fill`.
fn frame(len: usize, fill: u8) -> Vec<u8> {
    assert!(len >= 4 && len % 4 == 0 && len <= 65_532);
    let mut f = vec![fill; len];
    f[0] = 0x0B;
    f[1] = 0;
    f[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    f
}

/// Reads one frame from a blocking stream.
fn read_frame(s: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut h = [0u8; 4];
    s.read_exact(&mut h)?;
    let len = usize::from(u16::from_be_bytes([h[2], h[3]]));
    let mut f = vec![0u8; len];
    f[..4].copy_from_slice(&h);
    s.read_exact(&mut f[4..])?;
    Ok(f)
}

/// The next input, waiting at most 5 s.
async fn next(t: &mut TcpEndpoints) -> Input {
    tokio::time::timeout(Duration::from_secs(5), t.next_input())
        .await
        .expect("an input within 5 s")
}

/// Whether an input comes within `wait`.
async fn quiet(t: &mut TcpEndpoints, wait: Duration) -> Option<Input> {
    tokio::time::timeout(wait, t.next_input()).await.ok()
}

/// Whether the peer's stream ends (end-of-stream or reset) within 5 s,
/// reading and discarding whatever comes before.
fn ends(s: &mut TcpStream) -> bool {
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 65_536];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                return false
            }
            Err(_) => return true,
        }
    }
}

/// Waits (letting the runtime run) for a thread that does a peer's
/// blocking work.
async fn join<T>(h: std::thread::JoinHandle<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !h.is_finished() {
        assert!(
            Instant::now() < deadline,
            "the peer's thread ends within 20 s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    h.join().unwrap()
}

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

#[test]
fn a_peer_that_does_not_read_loses_its_connection_and_honest_peers_are_answered_in_time() {
    const ROUND_TRIPS: usize = 300;
    runtime().block_on(async {
        let mut net = Net::new(
            UdpConfig::default(),
            TcpConfig {
                // The kernel's buffers are small, so that the transport's
                // own 256 KiB fill soon.
                socket_send_buffer: Some(64 << 10),
                ..TcpConfig::default()
            },
        );
        assert_eq!(TcpConfig::default().send_buffer, 256 << 10);
        let l = net.tcp.listen(local(), Protocol::Asap).unwrap();
        let addr = net.tcp.local_addr(l).unwrap();
        // The peer that asks once and never reads.
        let slow = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        slow.set_recv_buffer_size(4096).unwrap();
        slow.connect(&addr.into()).unwrap();
        let mut slow: TcpStream = slow.into();
        slow.write_all(&frame(16, 1)).unwrap();
        let slow_port = slow.local_addr().unwrap().port();
        // The honest peer: round trips, each timed.
        let done = Arc::new(AtomicBool::new(false));
        let honest = {
            let done = done.clone();
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(addr).unwrap();
                s.set_nodelay(true).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let mut latencies = Vec::with_capacity(ROUND_TRIPS);
                for i in 0..ROUND_TRIPS {
                    let start = Instant::now();
                    s.write_all(&frame(32, i as u8)).unwrap();
                    let answer = read_frame(&mut s).unwrap();
                    latencies.push(start.elapsed());
                    assert_eq!(answer, frame(64, i as u8));
                    std::thread::sleep(Duration::from_millis(2));
                }
                done.store(true, Ordering::Release);
                latencies
            })
        };
        let mut slow_assoc = None;
        let mut slow_down = None;
        let mut slow_closed = false;
        let mut answered = 0usize;
        let mut answered_before_down = 0usize;
        let mut answers_to_slow = 0usize;
        let mut tick = tokio::time::interval(Duration::from_millis(1));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while !(done.load(Ordering::Acquire) && slow_down.is_some()) {
            assert!(tokio::time::Instant::now() < deadline, "within 30 s");
            tokio::select! {
                input = net.next_input() => match input {
                    Input::Up { assoc, remote, verified, .. } => {
                        assert!(verified);
                        if remote.port() == slow_port {
                            slow_assoc = Some(assoc);
                        }
                    }
                    Input::Message { incoming, .. } => {
                        if Some(incoming.assoc) != slow_assoc {
                            answered += 1;
                            // The honest peer's request: answered at once.
                            let answer = frame(64, incoming.bytes[4]);
                            net.send(incoming.assoc, 11, &answer).unwrap();
                        }
                    }
                    Input::Down { assoc, reason } => {
                        assert_eq!(Some(assoc), slow_assoc, "only the slow peer goes down");
                        assert_eq!(reason, DownReason::SendBufferFull);
                        slow_down = Some(answers_to_slow);
                        answered_before_down = answered;
                    }
                    other => panic!("unexpected {other:?}"),
                },
                _ = tick.tick() => {
                    // The node keeps answering the slow peer, 1 KiB a
                    // millisecond (its buffers fill in a few hundred
                    // milliseconds, while the honest peer asks), until its
                    // connection is gone.
                    if let (Some(a), false) = (slow_assoc, slow_closed) {
                        match net.send(a, 11, &frame(1 << 10, 7)) {
                            Ok(()) => answers_to_slow += 1,
                            Err(e) => {
                                assert_eq!(e, SendError::SendBufferFull);
                                slow_closed = true;
                            }
                        }
                    }
                }
            }
        }
        let latencies = honest.join().unwrap();
        assert_eq!(latencies.len(), ROUND_TRIPS);
        let max = latencies.iter().max().unwrap();
        let mut sorted = latencies.clone();
        sorted.sort();
        let p99 = sorted[ROUND_TRIPS * 99 / 100];
        let mean = latencies.iter().sum::<Duration>() / ROUND_TRIPS as u32;
        eprintln!(
            "slow reader closed after {} answers of 1 KiB, {answered_before_down} honest round trips meanwhile; honest round trips: mean {mean:?}, p99 {p99:?}, max {max:?}",
            slow_down.unwrap()
        );
        assert!(
            answered_before_down >= 20,
            "the honest peer was answered while the slow one's buffer filled ({answered_before_down})"
        );
        assert!(*max < Duration::from_millis(50), "every answer within 50 ms (max {max:?})");
        let c = net.counters().tcp;
        assert_eq!(c.closed_slow_readers, 1);
        assert_eq!(net.tcp.connection_count(), 1, "the honest connection stays");
        assert_eq!(
            net.send(slow_assoc.unwrap(), 11, &frame(16, 0)),
            Err(SendError::UnknownAssociation)
        );
        // The slow peer finds its connection gone.
        assert!(join(std::thread::spawn(move || ends(&mut slow))).await);
    });
}

#[test]
fn thousands_of_idle_connections_without_a_thread_each_and_a_cap_beyond_them() {
    const CAP: usize = 3000;
    runtime().block_on(async {
        let mut t = TcpEndpoints::new(TcpConfig {
            max_connections: CAP,
            ..TcpConfig::default()
        });
        let l = t.listen(local(), Protocol::Asap).unwrap();
        let addr = t.local_addr(l).unwrap();
        let threads_before = threads();
        let rss_before = rss_kib();
        let clients = std::thread::spawn(move || {
            (0..CAP)
                .map(|_| TcpStream::connect(addr).unwrap())
                .collect::<Vec<_>>()
        });
        let mut ups = Vec::with_capacity(CAP);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while ups.len() < CAP {
            assert!(tokio::time::Instant::now() < deadline, "accepted within 60 s");
            match quiet(&mut t, Duration::from_secs(1)).await {
                Some(Input::Up { assoc, endpoint, .. }) => {
                    assert_eq!(endpoint, Endpoint::TcpListener(l));
                    ups.push(assoc);
                }
                Some(other) => panic!("unexpected {other:?}"),
                None => {}
            }
        }
        let mut streams = clients.join().unwrap();
        let threads_after = threads();
        let rss_after = rss_kib();
        eprintln!(
            "{CAP} idle connections: threads {threads_before} -> {threads_after}, RSS {rss_before} -> {rss_after} KiB ({} bytes per connection, both ends in this process)",
            (rss_after.saturating_sub(rss_before)) * 1024 / CAP as u64
        );
        assert_eq!(t.connection_count(), CAP);
        // No thread per connection (other tests of this binary may start
        // a few meanwhile: far fewer than the connections).
        assert!(
            threads_after < threads_before + 100,
            "threads {threads_before} -> {threads_after}"
        );
        // The next one is accepted and closed at once, and counted.
        let mut refused = TcpStream::connect(addr).unwrap();
        assert!(quiet(&mut t, Duration::from_millis(300)).await.is_none());
        assert_eq!(t.counters().refused_connections, 1);
        assert!(ends(&mut refused));
        // The established ones still work.
        streams[0].write_all(&frame(8, 1)).unwrap();
        match next(&mut t).await {
            Input::Message { incoming, .. } => {
                assert_eq!(incoming.assoc, ups[0]);
                assert_eq!(incoming.bytes, frame(8, 1));
            }
            other => panic!("unexpected {other:?}"),
        }
        // Closing one makes room for one more.
        t.close(ups[1]);
        let mut closed = streams.swap_remove(1);
        assert!(join(std::thread::spawn(move || ends(&mut closed))).await);
        let _again = TcpStream::connect(addr).unwrap();
        assert!(matches!(next(&mut t).await, Input::Up { .. }));
        assert_eq!(t.counters().refused_connections, 1);
        assert_eq!(t.connection_count(), CAP);
    });
}

#[test]
fn idle_connections_are_closed_and_talking_ones_stay() {
    runtime().block_on(async {
        let idle = Duration::from_millis(400);
        let mut t = TcpEndpoints::new(TcpConfig {
            idle_timeout: idle,
            ..TcpConfig::default()
        });
        let l = t.listen(local(), Protocol::Asap).unwrap();
        let addr = t.local_addr(l).unwrap();
        let t0 = tokio::time::Instant::now();
        let mut silent = TcpStream::connect(addr).unwrap();
        let Input::Up { assoc: a, .. } = next(&mut t).await else {
            panic!("Up")
        };
        let mut talking = TcpStream::connect(addr).unwrap();
        let Input::Up { assoc: b, .. } = next(&mut t).await else {
            panic!("Up")
        };
        let mut down = None;
        let mut last = t0;
        while t0.elapsed() < idle * 3 {
            if last.elapsed() >= Duration::from_millis(100) {
                talking.write_all(&frame(8, 2)).unwrap();
                last = tokio::time::Instant::now();
            }
            match quiet(&mut t, Duration::from_millis(20)).await {
                Some(Input::Down { assoc, reason }) => {
                    assert!(down.is_none());
                    down = Some((assoc, reason, t0.elapsed()));
                }
                Some(Input::Message { incoming, .. }) => assert_eq!(incoming.assoc, b),
                Some(other) => panic!("unexpected {other:?}"),
                None => {}
            }
        }
        let (assoc, reason, at) = down.expect("the silent connection went down");
        assert_eq!((assoc, reason), (a, DownReason::Idle));
        assert!(at >= idle, "not before the idle timeout: {at:?}");
        assert_eq!(t.counters().idle_closed, 1);
        assert!(ends(&mut silent));
        assert_eq!(t.connection_count(), 1);
        assert!(t.addresses(b).is_some());
    });
}

#[test]
fn connects_succeed_fail_and_time_out() {
    runtime().block_on(async {
        let mut net = Net::new(
            UdpConfig::default(),
            TcpConfig {
                connect_timeout: Duration::from_millis(300),
                max_connections: 3,
                ..TcpConfig::default()
            },
        );
        // Success: Up (verified), then messages both ways; what was sent
        // before the connection was up goes first.
        let server = TcpListener::bind(local()).unwrap();
        let server_addr = server.local_addr().unwrap();
        let (a, new) = net.open(server_addr, Via::Tcp(Protocol::Asap)).unwrap();
        assert!(new);
        // Queued while connecting, written together once connected: still
        // three frames.
        let queued = [frame(8, 3), frame(12, 5), frame(16, 6)];
        for f in &queued {
            net.send(a, 11, f).unwrap();
        }
        let peer = std::thread::spawn(move || {
            let (mut s, _) = server.accept().unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let first: Vec<_> = (0..3).map(|_| read_frame(&mut s).unwrap()).collect();
            s.write_all(&frame(12, 4)).unwrap();
            (s, first)
        });
        match tokio::time::timeout(Duration::from_secs(5), net.next_input())
            .await
            .unwrap()
        {
            Input::Up {
                assoc,
                endpoint,
                verified,
                remote,
                local,
                ..
            } => {
                assert_eq!((assoc, endpoint, verified), (a, Endpoint::TcpConnect, true));
                assert_eq!(remote, server_addr);
                assert_ne!(local.port(), 0);
            }
            other => panic!("unexpected {other:?}"),
        }
        match tokio::time::timeout(Duration::from_secs(5), net.next_input())
            .await
            .unwrap()
        {
            Input::Message {
                incoming, endpoint, ..
            } => {
                assert_eq!((incoming.assoc, endpoint), (a, Endpoint::TcpConnect));
                assert_eq!(incoming.payload, Payload::Message(Protocol::Asap));
                assert_eq!(incoming.bytes, frame(12, 4));
            }
            other => panic!("unexpected {other:?}"),
        }
        let (mut s, first) = join(peer).await;
        assert_eq!(first, queued, "what was queued while connecting");
        // Refused: a port nobody listens on.
        let closed = TcpListener::bind(local()).unwrap().local_addr().unwrap();
        let (b, _) = net.open(closed, Via::Tcp(Protocol::Asap)).unwrap();
        match tokio::time::timeout(Duration::from_secs(5), net.next_input())
            .await
            .unwrap()
        {
            Input::ConnectFailed {
                assoc,
                remote,
                error,
            } => {
                assert_eq!((assoc, remote), (b, closed));
                assert_eq!(error, std::io::ErrorKind::ConnectionRefused);
            }
            other => panic!("unexpected {other:?}"),
        }
        // Timed out: a listener whose accept queue is full drops the SYN.
        let full =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        full.bind(&local().into()).unwrap();
        full.listen(0).unwrap();
        let full_addr: SocketAddr = full.local_addr().unwrap().as_socket().unwrap();
        let mut fillers = Vec::new();
        for _ in 0..4 {
            if let Ok(f) = TcpStream::connect_timeout(&full_addr, Duration::from_millis(200)) {
                fillers.push(f);
            }
        }
        let start = tokio::time::Instant::now();
        let (c, _) = net.open(full_addr, Via::Tcp(Protocol::Asap)).unwrap();
        // A connect in progress counts against the cap.
        let (d, _) = net.open(closed, Via::Tcp(Protocol::Asap)).unwrap();
        assert_eq!(
            net.open(closed, Via::Tcp(Protocol::Asap)),
            Err(OpenError::Full)
        );
        let mut failed = Vec::new();
        while failed.len() < 2 {
            match tokio::time::timeout(Duration::from_secs(5), net.next_input())
                .await
                .unwrap()
            {
                Input::ConnectFailed { assoc, error, .. } => {
                    failed.push((assoc, error, start.elapsed()))
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(
            (failed[0].0, failed[0].1),
            (d, std::io::ErrorKind::ConnectionRefused)
        );
        assert_eq!(
            (failed[1].0, failed[1].1),
            (c, std::io::ErrorKind::TimedOut)
        );
        assert!(
            failed[1].2 >= Duration::from_millis(300),
            "not before the connect timeout"
        );
        assert_eq!(net.tcp.connection_count(), 1);
        // Closing sends what is queued, then ends the connection.
        net.send(a, 11, &frame(16, 5)).unwrap();
        net.close(a);
        let (last, ended) = join(std::thread::spawn(move || {
            (read_frame(&mut s).unwrap(), ends(&mut s))
        }))
        .await;
        assert_eq!(last, frame(16, 5));
        assert!(ended);
        assert_eq!(
            net.send(a, 11, &frame(8, 0)),
            Err(SendError::UnknownAssociation)
        );
        assert!(quiet_net(&mut net, Duration::from_millis(200))
            .await
            .is_none());
    });
}

async fn quiet_net(net: &mut Net, wait: Duration) -> Option<Input> {
    tokio::time::timeout(wait, net.next_input()).await.ok()
}

#[test]
fn framing_padding_garbage_and_peer_close() {
    runtime().block_on(async {
        let mut t = TcpEndpoints::new(TcpConfig::default());
        let l = t.listen(local(), Protocol::Asap).unwrap();
        let addr = t.local_addr(l).unwrap();
        // Two ASAP_COOKIEs whose Message Length (9) leaves out the padding,
        // written byte by byte.
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_nodelay(true).unwrap();
        let Input::Up { assoc: a, .. } = next(&mut t).await else {
            panic!("Up")
        };
        let cookie = |c: u8| [0x0B, 0, 0, 9, 0, 0x0D, 0, 5, c, 0, 0, 0];
        for b in cookie(b'a').iter().chain(&cookie(b'b')) {
            s.write_all(&[*b]).unwrap();
        }
        for c in [b'a', b'b'] {
            match next(&mut t).await {
                Input::Message { incoming, .. } => {
                    assert_eq!(incoming.assoc, a);
                    assert_eq!(incoming.bytes, cookie(c));
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        // A Message Length below 4 ends the connection.
        s.write_all(&[0x0B, 0, 0, 3]).unwrap();
        match next(&mut t).await {
            Input::Down { assoc, reason } => assert_eq!((assoc, reason), (a, DownReason::Garbage)),
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(t.counters().garbage_closed, 1);
        assert!(ends(&mut s));
        // A peer that closes: Down (Closed); a message cut short too.
        let mut s = TcpStream::connect(addr).unwrap();
        let Input::Up { assoc: b, .. } = next(&mut t).await else {
            panic!("Up")
        };
        s.write_all(&frame(16, 1)[..10]).unwrap();
        drop(s);
        match next(&mut t).await {
            Input::Down { assoc, reason } => assert_eq!((assoc, reason), (b, DownReason::Closed)),
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(t.connection_count(), 0);
        assert_eq!(
            t.send(AssocId(0x8000_0001), &frame(8, 0)),
            Err(SendError::UnknownAssociation)
        );
    });
}

#[test]
fn a_full_input_queue_slows_readers_and_drops_no_message() {
    const MESSAGES: usize = 2000;
    runtime().block_on(async {
        let mut t = TcpEndpoints::new(TcpConfig {
            event_queue: 4,
            ..TcpConfig::default()
        });
        let l = t.listen(local(), Protocol::Asap).unwrap();
        let addr = t.local_addr(l).unwrap();
        let writers: Vec<_> = (0..2u8)
            .map(|w| {
                std::thread::spawn(move || {
                    let mut s = TcpStream::connect(addr).unwrap();
                    for i in 0..MESSAGES {
                        let mut f = frame(12, w);
                        f[8..12].copy_from_slice(&(i as u32).to_be_bytes());
                        s.write_all(&f).unwrap();
                    }
                    // Kept open until the node has read everything.
                    s
                })
            })
            .collect();
        let mut next_seq = std::collections::HashMap::new();
        let mut got = 0;
        while got < 2 * MESSAGES {
            match next(&mut t).await {
                Input::Up { assoc, .. } => {
                    next_seq.insert(assoc, 0u32);
                    if next_seq.len() == 2 {
                        // Both accepted: the node reads nothing for a
                        // while, the connections' tasks fill the queue of 4
                        // and wait.
                        tokio::time::sleep(Duration::from_millis(300)).await;
                    }
                }
                Input::Message { incoming, .. } => {
                    let seq = u32::from_be_bytes(incoming.bytes[8..12].try_into().unwrap());
                    let expected = next_seq.get_mut(&incoming.assoc).unwrap();
                    assert_eq!(seq, *expected, "in order, none lost");
                    *expected += 1;
                    got += 1;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        for w in writers {
            drop(w.join().unwrap());
        }
        assert!(next_seq.values().all(|&n| n as usize == MESSAGES));
    });
}

#[test]
fn a_flooding_connection_holds_one_message_of_the_queue_and_the_others_come_next() {
    const FLOOD: usize = 200;
    runtime().block_on(async {
        let mut t = TcpEndpoints::new(TcpConfig::default());
        assert!(TcpConfig::default().event_queue > FLOOD);
        let l = t.listen(local(), Protocol::Asap).unwrap();
        let addr = t.local_addr(l).unwrap();
        let mut flood = TcpStream::connect(addr).unwrap();
        let flood_assoc = match next(&mut t).await {
            Input::Up { assoc, .. } => assoc,
            other => panic!("unexpected {other:?}"),
        };
        let mut honest = TcpStream::connect(addr).unwrap();
        let honest_assoc = match next(&mut t).await {
            Input::Up { assoc, .. } => assoc,
            other => panic!("unexpected {other:?}"),
        };
        // The flood is all in the kernel, and its task has had time to
        // read what it may, before the honest message comes.
        let burst: Vec<u8> = (0..FLOOD).flat_map(|i| frame(8, i as u8)).collect();
        flood.write_all(&burst).unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        honest.write_all(&frame(8, 0xAA)).unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        // The node takes one of the flood, then the honest message.
        let mut before = 0;
        loop {
            match next(&mut t).await {
                Input::Message { incoming, .. } if incoming.assoc == flood_assoc => {
                    assert_eq!(incoming.bytes, frame(8, before as u8), "in order");
                    before += 1;
                }
                Input::Message { incoming, .. } => {
                    assert_eq!(incoming.assoc, honest_assoc);
                    assert_eq!(incoming.bytes, frame(8, 0xAA));
                    break;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        eprintln!("figure: the honest message came after {before} of the flood's {FLOOD}");
        // A message waits behind at most one of each other connection.
        assert_eq!(tcp::CONNECTION_QUEUE, 1);
        assert!(before <= 1, "at most one of the flood before it ({before})");
        // The rest of the flood follows, in order, none lost.
        while before < FLOOD {
            match next(&mut t).await {
                Input::Message { incoming, .. } => {
                    assert_eq!(incoming.assoc, flood_assoc);
                    assert_eq!(incoming.bytes, frame(8, before as u8), "in order");
                    before += 1;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    });
}

#[test]
fn one_net_carries_udp_and_tcp_side_by_side() {
    runtime().block_on(async {
        let mut net = Net::new(UdpConfig::default(), TcpConfig::default());
        let u = net
            .udp
            .bind(local(), Protocol::Asap, rserpool::transport::Framing::Plain)
            .unwrap();
        let uaddr = net.udp.local_addr(u).unwrap();
        let l = net.tcp.listen(uaddr, Protocol::Asap).unwrap();
        assert_eq!(net.tcp.local_addr(l), Some(uaddr), "one port for both");
        let udp_peer = std::net::UdpSocket::bind(local()).unwrap();
        udp_peer
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        udp_peer.send_to(&frame(8, 1), uaddr).unwrap();
        let mut tcp_peer = TcpStream::connect(uaddr).unwrap();
        tcp_peer.write_all(&frame(8, 2)).unwrap();
        let (mut udp_assoc, mut tcp_assoc) = (None, None);
        let mut messages = 0;
        while messages < 2 {
            let input = tokio::time::timeout(Duration::from_secs(5), net.next_input())
                .await
                .expect("an input within 5 s");
            match input {
                Input::Up {
                    assoc,
                    endpoint,
                    verified,
                    ..
                } => match endpoint {
                    Endpoint::Udp(i) => {
                        assert_eq!((i, verified), (u, false));
                        udp_assoc = Some(assoc);
                    }
                    Endpoint::TcpListener(i) => {
                        assert_eq!((i, verified), (l, true));
                        tcp_assoc = Some(assoc);
                    }
                    Endpoint::TcpConnect => panic!("no connect was asked for"),
                },
                Input::Message { incoming, .. } => {
                    let expected = if Some(incoming.assoc) == udp_assoc {
                        1
                    } else {
                        2
                    };
                    assert_eq!(incoming.bytes, frame(8, expected));
                    messages += 1;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        let (ua, ta) = (udp_assoc.unwrap(), tcp_assoc.unwrap());
        assert_ne!(ua, ta);
        assert!(net.counters() == Default::default());
        // Net::send goes by the association's number.
        net.send(ua, 11, &frame(12, 3)).unwrap();
        net.send(ta, 11, &frame(12, 4)).unwrap();
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 64];
            let (n, _) = udp_peer.recv_from(&mut buf).unwrap();
            tcp_peer
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            (buf[..n].to_vec(), read_frame(&mut tcp_peer).unwrap())
        });
        assert_eq!(join(reader).await, (frame(12, 3), frame(12, 4)));
        assert_eq!(net.next_deadline(), net.udp.next_expiry());
        assert!(
            net.next_deadline().is_some(),
            "the UDP association's idle timer"
        );
    });
}
