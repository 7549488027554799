//! The usrsctp transport over loopback: endpoints of this process talk to
//! each other through the process's one UDP encapsulation port.

use std::net::SocketAddr;
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use rserpool::transport::sctp::usrsctp::UsrSctp;
use rserpool::transport::sctp::{
    is_sctp, RecvInfo, SctpConfig, SctpEvent, SctpTransport, SendInfo,
};
use rserpool::AssocId;

use crate::net_support::encapsulation_port;

fn config() -> SctpConfig {
    let port = encapsulation_port();
    SctpConfig {
        udp_encapsulation_port: port,
        remote_udp_encapsulation_port: port,
        max_message_size: 100_000,
        ..SctpConfig::default()
    }
}

fn any() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

struct Endpoint {
    t: UsrSctp,
    rx: Receiver<SctpEvent>,
}

fn endpoint_with(config: &SctpConfig, bind: &[SocketAddr]) -> Endpoint {
    let (tx, rx) = mpsc::channel();
    let t = UsrSctp::open(config, bind, Box::new(move |e| tx.send(e).is_ok())).unwrap();
    Endpoint { t, rx }
}

fn endpoint() -> Endpoint {
    endpoint_with(&config(), &[any()])
}

impl Endpoint {
    fn addr(&self) -> SocketAddr {
        self.t.local_addrs()[0]
    }

    /// The next event, within 10 s.
    fn next(&self) -> SctpEvent {
        self.rx
            .recv_timeout(Duration::from_secs(10))
            .expect("an event within 10 s")
    }

    /// The next event other than a message.
    fn next_event(&self) -> SctpEvent {
        loop {
            match self.next() {
                SctpEvent::Message { .. } => continue,
                e => return e,
            }
        }
    }

    fn up(&self) -> (AssocId, SocketAddr, Vec<SocketAddr>) {
        match self.next_event() {
            SctpEvent::Up {
                assoc,
                remote,
                remotes,
            } => (assoc, remote, remotes),
            e => panic!("expected Up, got {e:?}"),
        }
    }

    fn message(&self) -> (AssocId, RecvInfo, Vec<u8>) {
        match self.next() {
            SctpEvent::Message {
                assoc, info, bytes, ..
            } => (assoc, info, bytes),
            e => panic!("expected a message, got {e:?}"),
        }
    }
}

/// Connects `a` to `b`: the ids on both sides.
fn pair(a: &mut Endpoint, b: &Endpoint) -> (AssocId, AssocId) {
    let id = a.t.connect(&[b.addr()]).unwrap();
    let (up_a, remote, _) = a.up();
    assert_eq!((up_a, remote), (id, b.addr()));
    let (up_b, _, _) = b.up();
    (id, up_b)
}

const ASAP: SendInfo = SendInfo {
    ppid: 11,
    stream: 0,
    unordered: false,
};

#[test]
fn two_endpoints_connect_and_exchange_messages_with_ppid_stream_and_order() {
    let mut a = endpoint();
    let mut b = endpoint();
    let id = a.t.connect(&[b.addr()]).unwrap();
    assert!(is_sctp(id));
    let (up, remote, remotes) = a.up();
    assert_eq!((up, remote), (id, b.addr()));
    assert!(remotes.contains(&b.addr()), "{remotes:?}");
    let (at_b, remote_b, remotes_b) = b.up();
    assert!(is_sctp(at_b));
    assert_eq!(remote_b, a.addr());
    assert!(remotes_b.contains(&a.addr()));
    assert_eq!(b.t.remote(at_b), Some(a.addr()));
    assert_eq!(a.t.remote(id), Some(b.addr()));

    a.t.send(id, ASAP, b"asap").unwrap();
    let enrp = SendInfo {
        ppid: 12,
        stream: 1,
        unordered: false,
    };
    a.t.send(id, enrp, b"enrp").unwrap();
    let data = SendInfo {
        ppid: 0x1234_5678,
        stream: 1,
        unordered: true,
    };
    a.t.send(id, data, b"data").unwrap();
    let expected = [
        (ASAP.into_recv(), &b"asap"[..]),
        (enrp.into_recv(), &b"enrp"[..]),
        (data.into_recv(), &b"data"[..]),
    ];
    let mut got = Vec::new();
    for _ in 0..3 {
        let (assoc, info, bytes) = b.message();
        assert_eq!(assoc, at_b);
        got.push((info, bytes));
    }
    for (info, bytes) in expected {
        assert!(
            got.iter().any(|(i, b)| *i == info && b == bytes),
            "{info:?} missing from {got:?}"
        );
    }
    // And back, a message larger than one packet (put together whole).
    let big: Vec<u8> = (0..60_000u32).map(|i| i as u8).collect();
    b.t.send(at_b, ASAP, &big).unwrap();
    let (assoc, info, bytes) = a.message();
    assert_eq!((assoc, info.ppid, bytes.len()), (id, 11, big.len()));
    assert!(
        bytes == big,
        "{} bytes differ from the {} sent",
        bytes.len(),
        big.len()
    );
    a.t.shutdown();
    b.t.shutdown();
}

trait IntoRecv {
    fn into_recv(self) -> RecvInfo;
}

impl IntoRecv for SendInfo {
    fn into_recv(self) -> RecvInfo {
        RecvInfo {
            ppid: self.ppid,
            stream: self.stream,
            unordered: self.unordered,
        }
    }
}

#[test]
fn oversized_and_unknown_sends_are_refused() {
    let mut a = endpoint();
    let b = endpoint();
    let (id, _) = pair(&mut a, &b);
    let too_big = vec![0u8; config().max_message_size + 1];
    let e = a.t.send(id, ASAP, &too_big).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
    assert!(a.t.send(AssocId(7), ASAP, b"x").is_err());
    assert!(a
        .t
        .send(rserpool::AssocId(id.0 + 1000), ASAP, b"x")
        .is_err());
    // The association still works.
    a.t.send(id, ASAP, b"ok").unwrap();
    assert_eq!(b.message().2, b"ok");
}

#[test]
fn messages_over_the_receive_limit_are_dropped() {
    let mut large = config();
    large.max_message_size = 200_000;
    let mut a = endpoint_with(&large, &[any()]);
    // Too large in its first part.
    let mut small = config();
    small.max_message_size = 1000;
    let b = endpoint_with(&small, &[any()]);
    let (id, _) = pair(&mut a, &b);
    a.t.send(id, ASAP, &vec![1u8; 5000]).unwrap();
    a.t.send(id, ASAP, b"after").unwrap();
    let m = b.message().2;
    assert!(m == b"after", "a message of {} bytes came first", m.len());
    // Too large only once its parts (reads of at most 64 KiB) are put
    // together: skipped to its end.
    let mut medium = config();
    medium.max_message_size = 70_000;
    let c = endpoint_with(&medium, &[any()]);
    let (id, _) = pair(&mut a, &c);
    a.t.send(id, ASAP, &vec![2u8; 130_000]).unwrap();
    a.t.send(id, ASAP, b"after").unwrap();
    let m = c.message().2;
    assert!(m == b"after", "a message of {} bytes came first", m.len());
}

#[test]
fn a_message_longer_than_one_read_is_put_together() {
    let mut a = endpoint();
    let b = endpoint();
    let (id, at_b) = pair(&mut a, &b);
    // Longer than the reader's 64 KiB buffer: it arrives in parts.
    let big: Vec<u8> = (0..99_000u32).map(|i| (i % 251) as u8).collect();
    let enrp = SendInfo {
        ppid: 12,
        stream: 1,
        unordered: false,
    };
    a.t.send(id, enrp, &big).unwrap();
    a.t.send(id, ASAP, b"next").unwrap();
    let (assoc, info, bytes) = b.message();
    assert_eq!((assoc, info.ppid, info.stream), (at_b, 12, 1));
    assert!(
        bytes == big,
        "{} bytes differ from the {} sent",
        bytes.len(),
        big.len()
    );
    assert_eq!(b.message().2, b"next");
}

#[test]
fn connecting_to_a_closed_port_fails_in_bounded_time() {
    let mut a = endpoint();
    // A port nobody listens on: open an endpoint, note its port, close it.
    let gone = {
        let mut b = endpoint();
        let addr = b.addr();
        b.t.shutdown();
        addr
    };
    let start = Instant::now();
    let id = a.t.connect(&[gone]).unwrap();
    match a.next_event() {
        SctpEvent::ConnectFailed { assoc, remote } => assert_eq!((assoc, remote), (id, gone)),
        e => panic!("expected ConnectFailed, got {e:?}"),
    }
    assert!(start.elapsed() < Duration::from_secs(5));
    assert_eq!(a.t.remote(id), None);
}

#[test]
fn peer_close_abort_and_shutdown_are_reported_down() {
    let mut b = endpoint();
    // Graceful close by the peer. (Each case from a fresh endpoint: the
    // closed association may still be finishing its shutdown.)
    let mut a = endpoint();
    let (id, at_b) = pair(&mut a, &b);
    b.t.close(at_b);
    assert_eq!(a.next_event(), SctpEvent::Down { assoc: id });
    // Abort by the peer.
    let mut a = endpoint();
    let (id, at_b) = pair(&mut a, &b);
    b.t.abort(at_b);
    assert_eq!(a.next_event(), SctpEvent::Down { assoc: id });
    assert!(a.t.send(id, ASAP, b"x").is_err());
    // The side that closed hears nothing more of them.
    assert!(b.rx.recv_timeout(Duration::from_millis(300)).is_err());
    // The whole peer endpoint goes away.
    let mut a = endpoint();
    let (id, _) = pair(&mut a, &b);
    let start = Instant::now();
    b.t.shutdown();
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "shutdown is prompt"
    );
    assert_eq!(a.next_event(), SctpEvent::Down { assoc: id });
}

#[test]
fn many_associations_on_one_endpoint() {
    let server = endpoint();
    let mut clients: Vec<Endpoint> = (0..20).map(|_| endpoint()).collect();
    let mut ids = Vec::new();
    for c in &mut clients {
        ids.push(c.t.connect(&[server.addr()]).unwrap());
    }
    for (c, id) in clients.iter().zip(&ids) {
        assert_eq!(c.up().0, *id);
    }
    let mut at_server = std::collections::BTreeSet::new();
    for _ in 0..clients.len() {
        at_server.insert(server.up().0);
    }
    assert_eq!(at_server.len(), clients.len());
    for (i, (c, id)) in clients.iter_mut().zip(&ids).enumerate() {
        c.t.send(*id, ASAP, &[i as u8]).unwrap();
    }
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..clients.len() {
        let (assoc, _, bytes) = server.message();
        assert!(at_server.contains(&assoc));
        seen.insert(bytes[0]);
    }
    assert_eq!(seen.len(), clients.len());
}

#[test]
fn an_endpoint_on_two_addresses_is_multi_homed() {
    let b = endpoint_with(
        &config(),
        &["127.0.0.1:0".parse().unwrap(), "[::1]:0".parse().unwrap()],
    );
    let locals = b.t.local_addrs();
    assert_eq!(locals.len(), 2, "{locals:?}");
    assert_eq!(locals[0].port(), locals[1].port());
    let mut a = endpoint_with(
        &config(),
        &["127.0.0.1:0".parse().unwrap(), "[::1]:0".parse().unwrap()],
    );
    let id = a.t.connect(&[locals[0]]).unwrap();
    let (up, _, remotes) = a.up();
    assert_eq!(up, id);
    assert_eq!(remotes.len(), 2, "the peer's both addresses: {remotes:?}");
    let (_, _, at_b) = b.up();
    assert_eq!(at_b.len(), 2, "{at_b:?}");
    a.t.send(id, ASAP, b"mh").unwrap();
    assert_eq!(b.message().2, b"mh");
}

#[test]
fn a_second_stack_port_is_refused() {
    let _a = endpoint();
    let mut other = config();
    other.udp_encapsulation_port = other.udp_encapsulation_port.wrapping_add(1).max(1);
    let (tx, _rx) = mpsc::channel();
    let e = UsrSctp::open(&other, &[any()], Box::new(move |e| tx.send(e).is_ok())).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
}

#[test]
fn shutdown_is_prompt_with_associations_up() {
    let mut a = endpoint();
    let b = endpoint();
    let _ = pair(&mut a, &b);
    let start = Instant::now();
    a.t.shutdown();
    drop(a);
    assert!(start.elapsed() < Duration::from_secs(2));
}

#[test]
fn the_tail_of_a_long_send_failed_notification_is_not_read_as_one() {
    // A message is failed back in a SEND_FAILED notification that carries
    // its unsent bytes; longer than one read, it arrives in parts. Bytes
    // [5, 0, 0, 0] over and over read, at any 4-byte boundary, like a
    // SHUTDOWN_EVENT of usrsctp's association 5: a part after the first
    // must not be taken for a notification of its own.
    let mut large = config();
    large.max_message_size = 200_000;
    let mut a = endpoint_with(&large, &[any()]);
    let mut peers = Vec::new();
    let mut victim = None;
    let mut others = Vec::new();
    for _ in 0..8 {
        let b = endpoint();
        let (id, at_b) = pair(&mut a, &b);
        peers.push(b);
        if id.0 & 0xffff == 5 {
            victim = Some((id, at_b));
            break;
        }
        others.push(id);
    }
    let (victim, victim_at_b) = victim.expect("usrsctp numbers associations 3, 4, 5, ...");
    let b = peers.last_mut().unwrap();
    let doomed = *others.first().expect("an association before it");
    let forged: Vec<u8> = [5u8, 0, 0, 0].repeat(130_000 / 4);
    a.t.send(doomed, ASAP, &forged).unwrap();
    a.t.abort(doomed);
    // The victim still carries messages, and nothing is reported for it
    // (nor for the association aborted here) before a message that comes
    // after the notifications.
    b.t.send(victim_at_b, ASAP, b"still up").unwrap();
    loop {
        match a.next() {
            SctpEvent::Message { assoc, bytes, .. } if assoc == victim => {
                assert_eq!(bytes, b"still up");
                break;
            }
            SctpEvent::Down { assoc } => panic!("{assoc:?} reported down"),
            _ => {}
        }
    }
    assert!(a.t.remote(victim).is_some());
}

/// usrsctp counts the send buffer per association: a peer that does not
/// read (its reader held in its sink) gets its own sends refused once its
/// share is full, without waiting, and another peer's messages still go
/// out at once and arrive.
#[test]
fn a_peer_that_does_not_read_fills_only_its_own_share() {
    let mut a = endpoint();
    let c = endpoint();
    let (ac, _) = pair(&mut a, &c);
    let (sink, up_rx, release_tx) = crate::net_support::held_reader();
    let mut b = UsrSctp::open(&config(), &[any()], sink).unwrap();
    let ab = a.t.connect(&[b.local_addrs()[0]]).unwrap();
    let (up, _, _) = a.up();
    assert_eq!(up, ab);
    up_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    let msg = vec![0x5a; 8192];
    let (mut sent, mut longest) = (0u32, Duration::ZERO);
    let end = Instant::now() + Duration::from_secs(20);
    let refused = loop {
        assert!(Instant::now() < end, "sent {sent}, never refused");
        let t = Instant::now();
        let r = a.t.send(ab, ASAP, &msg);
        longest = longest.max(t.elapsed());
        match r {
            Ok(()) => sent += 1,
            Err(e) => break e,
        }
    };
    assert_eq!(refused.kind(), std::io::ErrorKind::WouldBlock, "{refused}");
    assert!(
        longest < Duration::from_millis(100),
        "a send waited {longest:?}"
    );
    // b's share is full; c's is not.
    for k in 0..20u8 {
        let t = Instant::now();
        a.t.send(ac, ASAP, &[k; 1000]).unwrap();
        assert!(t.elapsed() < Duration::from_millis(100));
    }
    for k in 0..20u8 {
        let (_, _, bytes) = c.message();
        assert_eq!(bytes, [k; 1000]);
    }
    drop(release_tx);
    b.shutdown();
}
