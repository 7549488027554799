//! The tokio UDP transport (`transport::tokio::udp`) over real sockets on
//! 127.0.0.1 (ephemeral ports): associations per (local socket, remote),
//! a full table that refuses new peers and ends no association, the idle
//! and no-answer timeouts, multicast, and what receiving costs.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::time::{Duration, Instant};

use rserpool::transport::tokio::{
    DownReason, Endpoint, Input, OpenError, SendError, UdpConfig, UdpEndpoints,
};
use rserpool::transport::{Framing, Multicast, Payload};
use rserpool::wire::{AsapMessage, Message, Protocol};
use rserpool::AssocId;

/// An ASAP_COOKIE carrying the one-byte cookie `c` (Message Length 9,
/// padded to 12).
fn cookie(c: u8) -> [u8; 12] {
    [0x0B, 0, 0, 9, 0, 0x0D, 0, 5, c, 0, 0, 0]
}

fn local() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The next input, waiting at most 5 s.
async fn next(t: &mut UdpEndpoints) -> Input {
    tokio::time::timeout(Duration::from_secs(5), t.next_input())
        .await
        .expect("an input within 5 s")
}

/// Whether an input comes within `wait`.
async fn quiet(t: &mut UdpEndpoints, wait: Duration) -> Option<Input> {
    tokio::time::timeout(wait, t.next_input()).await.ok()
}

fn peer() -> UdpSocket {
    let s = UdpSocket::bind(local()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

fn recv(s: &UdpSocket) -> (Vec<u8>, SocketAddr) {
    let mut buf = [0u8; 2048];
    let (n, from) = s.recv_from(&mut buf).unwrap();
    (buf[..n].to_vec(), from)
}

#[test]
fn asap_sent_to_the_enrp_socket_is_an_enrp_socket_input_of_its_own_association() {
    runtime().block_on(async {
        let mut t = UdpEndpoints::new(UdpConfig::default());
        let asap = t.bind(local(), Protocol::Asap, Framing::Plain).unwrap();
        let enrp = t.bind(local(), Protocol::Enrp, Framing::Plain).unwrap();
        let (asap_addr, enrp_addr) = (t.local_addr(asap).unwrap(), t.local_addr(enrp).unwrap());
        let p = peer();
        p.send_to(&cookie(b'a'), asap_addr).unwrap();
        p.send_to(&cookie(b'e'), enrp_addr).unwrap();
        let mut got = Vec::new();
        for _ in 0..4 {
            got.push(next(&mut t).await);
        }
        let (a, b) = match &got[..] {
            [Input::Up {
                assoc: a,
                endpoint: ea,
                protocol: Protocol::Asap,
                verified: false,
                remote: ra,
                ..
            }, Input::Message {
                endpoint: ma,
                incoming: ia,
                ..
            }, Input::Up {
                assoc: b,
                endpoint: eb,
                protocol: Protocol::Enrp,
                verified: false,
                remote: rb,
                ..
            }, Input::Message {
                endpoint: mb,
                local: lb,
                incoming: ib,
            }] => {
                assert_eq!((*ea, *ma), (Endpoint::Udp(asap), Endpoint::Udp(asap)));
                assert_eq!((*eb, *mb), (Endpoint::Udp(enrp), Endpoint::Udp(enrp)));
                assert_eq!(*lb, enrp_addr);
                assert_eq!(*ra, p.local_addr().unwrap());
                assert_eq!(ra, rb, "one remote address");
                assert_eq!(ia.assoc, *a);
                assert_eq!(ib.assoc, *b);
                assert_eq!(ia.payload, Payload::Message(Protocol::Asap));
                // What came to the ENRP socket is ENRP's, whatever it
                // carries: the node parses it as ENRP and refuses it.
                assert_eq!(ib.payload, Payload::Message(Protocol::Enrp));
                assert!(Message::parse(Protocol::Enrp, &ib.bytes).is_err());
                assert_eq!(
                    AsapMessage::parse(&ib.bytes).unwrap(),
                    AsapMessage::Cookie { cookie: b"e" }
                );
                (*a, *b)
            }
            other => panic!("unexpected inputs {other:?}"),
        };
        assert_ne!(a, b, "ASAP and ENRP of one peer are two associations");
        assert_eq!(t.association_count(), 2);
        // Each association answers from its own socket.
        t.send(a, Protocol::Asap.ppid(), &cookie(1)).unwrap();
        assert_eq!(recv(&p), (cookie(1).to_vec(), asap_addr));
        t.send(b, Protocol::Enrp.ppid(), &cookie(2)).unwrap();
        assert_eq!(recv(&p), (cookie(2).to_vec(), enrp_addr));
        // The peer's next ASAP datagram is on the ASAP association again.
        p.send_to(&cookie(b'x'), asap_addr).unwrap();
        match next(&mut t).await {
            Input::Message { incoming, .. } => assert_eq!(incoming.assoc, a),
            other => panic!("unexpected {other:?}"),
        }
    });
}

#[test]
fn a_flood_of_new_source_ports_is_refused_and_ends_no_association() {
    const FLOOD: usize = 5000;
    const BATCH: usize = 100;
    runtime().block_on(async {
        let config = UdpConfig::default();
        assert_eq!(config.max_associations, 4096);
        let mut t = UdpEndpoints::new(config);
        let s = t.bind(local(), Protocol::Asap, Framing::Plain).unwrap();
        let addr = t.local_addr(s).unwrap();
        // The established association, up before the flood.
        let p = peer();
        p.send_to(&cookie(b'p'), addr).unwrap();
        let Input::Up { assoc: a, .. } = next(&mut t).await else {
            panic!("the established peer's Up first");
        };
        assert!(matches!(next(&mut t).await, Input::Message { .. }));
        // 5,000 datagrams from 5,000 distinct source ports (all sockets
        // are kept open, so that no port comes twice), sent in batches the
        // kernel's receive buffer holds, each drained before the next.
        let mut flood: Vec<UdpSocket> = Vec::with_capacity(FLOOD);
        let (mut opened, mut messages) = (0usize, 0usize);
        for batch in 0..FLOOD / BATCH {
            for _ in 0..BATCH {
                let f = UdpSocket::bind(local()).unwrap();
                f.send_to(&cookie(b'f'), addr).unwrap();
                flood.push(f);
            }
            let sent = (batch + 1) * BATCH;
            let deadline = Instant::now() + Duration::from_secs(10);
            while messages + (t.counters().refused_peers as usize) < sent {
                assert!(Instant::now() < deadline, "every datagram is accounted for");
                match quiet(&mut t, Duration::from_millis(500)).await {
                    Some(Input::Up { .. }) => opened += 1,
                    Some(Input::Message { incoming, .. }) => {
                        assert_ne!(incoming.assoc, a);
                        messages += 1;
                    }
                    Some(Input::Down { assoc, reason }) => {
                        panic!("{assoc:?} went down ({reason:?}) during the flood")
                    }
                    Some(other) => panic!("unexpected {other:?}"),
                    None => {}
                }
            }
        }
        let refused = t.counters().refused_peers as usize;
        assert_eq!(opened, 4096 - 1, "the table filled up");
        assert_eq!(refused, FLOOD - (4096 - 1));
        assert_eq!(t.association_count(), 4096);
        // A caller's open is refused too.
        let q = peer();
        assert_eq!(
            t.open(s, q.local_addr().unwrap(), Framing::Plain),
            Err(OpenError::Full)
        );
        // The established association still works both ways.
        p.send_to(&cookie(b'q'), addr).unwrap();
        match next(&mut t).await {
            Input::Message { incoming, .. } => {
                assert_eq!(incoming.assoc, a);
                assert_eq!(incoming.bytes, cookie(b'q'));
            }
            other => panic!("unexpected {other:?}"),
        }
        t.send(a, Protocol::Asap.ppid(), &cookie(3)).unwrap();
        assert_eq!(recv(&p).0, cookie(3));
        // A refused remote's next datagram is refused again, silently.
        flood[FLOOD - 1].send_to(&cookie(b'r'), addr).unwrap();
        assert!(quiet(&mut t, Duration::from_millis(200)).await.is_none());
        assert_eq!(t.counters().refused_peers as usize, refused + 1);
    });
}

#[test]
fn idle_and_unanswered_associations_go_down_as_documented() {
    runtime().block_on(async {
        let idle = Duration::from_millis(600);
        let no_answer = Duration::from_millis(300);
        let mut t = UdpEndpoints::new(UdpConfig {
            idle_timeout: idle,
            no_answer_timeout: no_answer,
            ..UdpConfig::default()
        });
        let s = t.bind(local(), Protocol::Asap, Framing::Plain).unwrap();
        let addr = t.local_addr(s).unwrap();
        // A peer that spoke once, then fell silent.
        let silent = peer();
        // A peer that keeps speaking.
        let chatty = peer();
        // A remote this side opens and that never answers.
        let mute = peer();
        let t0 = tokio::time::Instant::now();
        silent.send_to(&cookie(b's'), addr).unwrap();
        let Input::Up { assoc: a, .. } = next(&mut t).await else {
            panic!("Up first")
        };
        next(&mut t).await;
        let (m, new) = t
            .open(s, mute.local_addr().unwrap(), Framing::Plain)
            .unwrap();
        assert!(new);
        // Opened but never sent to: no answer is awaited yet.
        let (m2, _) = t
            .open(s, chatty.local_addr().unwrap(), Framing::Plain)
            .unwrap();
        t.send(m, Protocol::Asap.ppid(), &cookie(4)).unwrap();
        assert_eq!(recv(&mute).0, cookie(4));
        let mut downs = Vec::new();
        let end = t0 + Duration::from_secs(5);
        let mut last_chat = t0;
        while downs.len() < 2 && tokio::time::Instant::now() < end {
            if last_chat.elapsed() >= Duration::from_millis(100) {
                chatty.send_to(&cookie(b'c'), addr).unwrap();
                last_chat = tokio::time::Instant::now();
            }
            match quiet(&mut t, Duration::from_millis(50)).await {
                Some(Input::Down { assoc, reason }) => downs.push((assoc, reason, t0.elapsed())),
                Some(Input::Message { incoming, .. }) => assert_eq!(incoming.assoc, m2),
                Some(other) => panic!("unexpected {other:?}"),
                None => {}
            }
        }
        assert_eq!(downs.len(), 2, "{downs:?}");
        let (assoc, reason, at) = downs[0];
        assert_eq!((assoc, reason), (m, DownReason::NoAnswer));
        assert!(at >= no_answer, "not before the no-answer timeout: {at:?}");
        let (assoc, reason, at) = downs[1];
        assert_eq!((assoc, reason), (a, DownReason::Idle));
        assert!(at >= idle, "not before the idle timeout: {at:?}");
        // The chatty peer's association stays; the others are forgotten.
        assert_eq!(t.association_count(), 1);
        assert_eq!(
            t.send(a, Protocol::Asap.ppid(), &cookie(5)),
            Err(SendError::UnknownAssociation)
        );
        assert!(t.association(m2).is_some());
        // A peer that answers in time is not given up.
        let answering = peer();
        let (r, _) = t
            .open(s, answering.local_addr().unwrap(), Framing::Plain)
            .unwrap();
        t.send(r, Protocol::Asap.ppid(), &cookie(6)).unwrap();
        let (_, from) = recv(&answering);
        answering.send_to(&cookie(b'y'), from).unwrap();
        match next(&mut t).await {
            Input::Message { incoming, .. } => assert_eq!(incoming.assoc, r),
            other => panic!("unexpected {other:?}"),
        }
        let until = tokio::time::Instant::now() + no_answer + Duration::from_millis(100);
        while tokio::time::Instant::now() < until {
            chatty.send_to(&cookie(b'c'), addr).unwrap();
            if let Some(Input::Down { assoc, reason }) =
                quiet(&mut t, Duration::from_millis(100)).await
            {
                panic!("{assoc:?} went down ({reason:?})");
            }
        }
        assert!(t.association(r).is_some());
    });
}

#[test]
fn tagged_datagrams_and_short_ones() {
    runtime().block_on(async {
        let mut t = UdpEndpoints::new(UdpConfig::default());
        let s = t.bind(local(), Protocol::Asap, Framing::Tagged).unwrap();
        let addr = t.local_addr(s).unwrap();
        let p = peer();
        p.send_to(&[0, 0], addr).unwrap();
        p.send_to(&[], addr).unwrap();
        p.send_to(&[0, 0, 0, 11, 9, 9], addr).unwrap();
        p.send_to(&[0, 0, 0, 0, 7], addr).unwrap();
        assert!(matches!(next(&mut t).await, Input::Up { .. }));
        match next(&mut t).await {
            Input::Message { incoming, .. } => {
                assert_eq!(incoming.payload, Payload::Message(Protocol::Asap));
                assert_eq!(incoming.bytes, [9, 9]);
            }
            other => panic!("unexpected {other:?}"),
        }
        let Input::Message { incoming, .. } = next(&mut t).await else {
            panic!("data")
        };
        assert_eq!(incoming.payload, Payload::Data(0));
        assert_eq!(incoming.bytes, [7]);
        assert_eq!(t.counters().dropped_datagrams, 2);
        // Sending on a tagged association puts the PPID first.
        t.send(incoming.assoc, 0, &[1, 2]).unwrap();
        assert_eq!(recv(&p).0, [0, 0, 0, 0, 1, 2]);
        assert_eq!(
            t.send(AssocId(77), 0, &[1]),
            Err(SendError::UnknownAssociation)
        );
        assert_eq!(t.send_to(9, addr, &[1]), Err(SendError::NoSuchSocket));
        // A datagram the kernel refuses (here: to an IPv6 address from an
        // IPv4 socket) is dropped and counted, never queued.
        let v6: SocketAddr = "[::1]:9".parse().unwrap();
        assert!(matches!(t.send_to(s, v6, &[1]), Err(SendError::Dropped(_))));
        assert_eq!(t.counters().dropped_sends, 1);
        assert_eq!(t.send_to(s, addr, &[0; 65_508]), Err(SendError::TooLarge));
    });
}

#[test]
fn multicast_announcements_are_connectionless() {
    runtime().block_on(async {
        let mut t = UdpEndpoints::new(UdpConfig::default());
        // A wildcard ENRP socket on the group's port, as a registrar has.
        let any = SocketAddr::from(([0, 0, 0, 0], 0));
        let enrp = t.bind(any, Protocol::Enrp, Framing::Plain).unwrap();
        let port = t.local_addr(enrp).unwrap().port();
        let last = (std::process::id() % 200) as u8 + 1;
        let group = SocketAddrV4::new(Ipv4Addr::new(239, 0, 9, last), port);
        let channel = Multicast::v4(group, Ipv4Addr::LOCALHOST);
        let g = t.join_multicast(channel, Protocol::Enrp).unwrap();
        assert!(
            t.open(g, local(), Framing::Plain).is_err(),
            "a group opens no association"
        );
        // A second node announces on the group from its own socket.
        let mut sender = UdpEndpoints::new(UdpConfig::default());
        let out = sender
            .bind(local(), Protocol::Enrp, Framing::Plain)
            .unwrap();
        sender.enable_multicast_send(out, channel).unwrap();
        assert!(sender
            .enable_multicast_send(out, Multicast::enrp_v6(1))
            .is_err());
        sender
            .send_to(out, SocketAddr::V4(group), &cookie(b'm'))
            .unwrap();
        match next(&mut t).await {
            Input::Message {
                endpoint, incoming, ..
            } => {
                assert_eq!(endpoint, Endpoint::Udp(g));
                assert!(incoming.connectionless);
                assert_eq!(incoming.assoc, AssocId::NONE);
                assert_eq!(incoming.remote, sender.local_addr(out).unwrap());
                assert_eq!(incoming.payload, Payload::Message(Protocol::Enrp));
            }
            other => panic!("unexpected {other:?}"),
        }
        // Once, on the group's socket only.
        assert!(quiet(&mut t, Duration::from_millis(200)).await.is_none());
        assert_eq!(t.association_count(), 0);
    });
}

/// What receiving costs per datagram through the transport (the figure
/// the module's documentation gives for not batching with recvmmsg):
/// run with `--release -- --nocapture` to see it. Asserts only that
/// every datagram arrives.
#[test]
fn udp_receive_cost() {
    const N: usize = 20_000;
    const BATCH: usize = 200;
    runtime().block_on(async {
        let mut t = UdpEndpoints::new(UdpConfig::default());
        let s = t.bind(local(), Protocol::Asap, Framing::Plain).unwrap();
        let addr = t.local_addr(s).unwrap();
        let p = peer();
        let msg = [0x0Bu8; 64];
        let mut received = 0;
        let mut receiving = Duration::ZERO;
        for _ in 0..N / BATCH {
            for _ in 0..BATCH {
                p.send_to(&msg, addr).unwrap();
            }
            let start = Instant::now();
            let mut got = 0;
            while got < BATCH {
                match next(&mut t).await {
                    Input::Message { .. } => got += 1,
                    Input::Up { .. } => {}
                    other => panic!("unexpected {other:?}"),
                }
            }
            receiving += start.elapsed();
            received += got;
        }
        assert_eq!(received, N);
        let ns = receiving.as_nanos() / N as u128;
        eprintln!("udp_receive_cost: {N} datagrams of 64 bytes, {ns} ns each through UdpEndpoints::next_input");
    });
}

/// IPv6 groups on the loopback interface, in a network namespace of the
/// test's own (see `udp_multicast_v6`): a registrar's announcement on the
/// IPv6 ASAP channel reaches a listener of the group as a connectionless
/// datagram.
#[test]
fn ipv6_multicast_announcements() {
    let name = "net::tokio_udp::ipv6_multicast_announcements";
    if !super::udp_multicast_v6::in_network_namespace(name) {
        return;
    }
    runtime().block_on(async {
        // The loopback interface's index (1 in every network namespace).
        let channel = Multicast::asap_v6(1);
        let mut listener = UdpEndpoints::new(UdpConfig::default());
        let g = listener.join_multicast(channel, Protocol::Asap).unwrap();
        let mut announcer = UdpEndpoints::new(UdpConfig::default());
        let v4 = announcer
            .bind(local(), Protocol::Asap, Framing::Plain)
            .unwrap();
        assert!(announcer.enable_multicast_send(v4, channel).is_err());
        let s = announcer
            .bind("[::1]:0".parse().unwrap(), Protocol::Asap, Framing::Plain)
            .unwrap();
        announcer.enable_multicast_send(s, channel).unwrap();
        announcer
            .send_to(s, channel.group(), &cookie(b'6'))
            .unwrap();
        match tokio::time::timeout(Duration::from_secs(5), listener.next_input())
            .await
            .expect("the announcement within 5 s")
        {
            Input::Message {
                endpoint, incoming, ..
            } => {
                assert_eq!(endpoint, Endpoint::Udp(g));
                assert!(incoming.connectionless);
                assert_eq!(
                    incoming.remote.port(),
                    announcer.local_addr(s).unwrap().port()
                );
                assert_eq!(incoming.bytes, cookie(b'6'));
            }
            other => panic!("unexpected {other:?}"),
        }
    });
}
