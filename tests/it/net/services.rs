//! rsplib's chargen and ping-pong services on a pool element, over
//! loopback, as a pool user's raw UDP channel sees them.

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use crate::support::net::{loopback_registrar, pool, receive_tagged, registered, tagged, wait_for};

use rserpool::host::services::{
    chargen_block, CharGen, PingPong, CHARGEN_CREDIT, PINGPONG_COOKIE_ID, PINGPONG_PPID, PONG,
    PONG_HEADER,
};
use rserpool::host::Service;
use rserpool::runtime::blocking::{PoolElementNode, RegistrarNode};
use rserpool::runtime::{loopback, NodeConfig};
use rserpool::wire::{AsapMessage, ASAP_PPID};

fn any() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

fn element(r: &RegistrarNode, service: Box<dyn Service + Send>) -> PoolElementNode {
    let pe = PoolElementNode::start(
        loopback::element(pool(), &[r.local_addr()], 60),
        NodeConfig::new(any()),
        service,
    )
    .unwrap();
    assert!(wait_for(Duration::from_secs(5), || registered(r, 1)));
    pe
}

/// Chargen streams rsplib's 1,024-byte blocks, [`CHARGEN_CREDIT`] of them
/// per message the user sends (one datagram never buys an endless
/// stream), and stops in between.
#[test]
fn chargen_sends_rsplibs_blocks_a_bounded_credit_per_message() {
    let r = loopback_registrar();
    let pe = element(&r, Box::new(CharGen::default()));
    let u = UdpSocket::bind(any()).unwrap();
    u.send_to(&tagged(0, b"go"), pe.local_addr()).unwrap();
    let first = receive_tagged(&u, Duration::from_millis(800));
    assert_eq!(first.len(), CHARGEN_CREDIT as usize);
    assert!(first
        .iter()
        .all(|(ppid, b)| *ppid == 0 && b[..] == chargen_block()[..]));
    // Nothing more without another message.
    assert!(receive_tagged(&u, Duration::from_millis(300)).is_empty());
    u.send_to(&tagged(0, b"more"), pe.local_addr()).unwrap();
    assert_eq!(
        receive_tagged(&u, Duration::from_millis(800)).len(),
        CHARGEN_CREDIT as usize
    );
    pe.stop();
}

fn ping(message_no: u64, data: &[u8]) -> Vec<u8> {
    let mut p = vec![0x01, 0];
    p.extend_from_slice(&((12 + data.len()) as u16).to_be_bytes());
    p.extend_from_slice(&message_no.to_be_bytes());
    p.extend_from_slice(data);
    p
}

/// A pong: (message number, reply number, data).
fn pong(bytes: &[u8]) -> (u64, u64, Vec<u8>) {
    assert_eq!(bytes[0], PONG);
    assert_eq!(
        usize::from(u16::from_be_bytes([bytes[2], bytes[3]])),
        bytes.len()
    );
    let n = |r: std::ops::Range<usize>| u64::from_be_bytes(bytes[r].try_into().unwrap());
    (n(4..12), n(12..20), bytes[PONG_HEADER..].to_vec())
}

/// The cookie of an ASAP_COOKIE on the channel.
fn cookie(bytes: &[u8]) -> Vec<u8> {
    match AsapMessage::parse(bytes) {
        Ok(AsapMessage::Cookie { cookie }) => cookie.to_vec(),
        other => panic!("not a cookie: {other:?}"),
    }
}

/// Ping-pong answers each PING with a PONG (the message number, a reply
/// number counting from 1, the data) and a cookie with the next reply
/// number; a user that fails over echoes that cookie and the next PE
/// continues the count; anything else ends the session.
#[test]
fn pingpong_answers_counts_and_continues_from_an_echoed_cookie() {
    let r = loopback_registrar();
    let pe = element(&r, Box::new(PingPong::default()));
    let u = UdpSocket::bind(any()).unwrap();
    u.send_to(&tagged(PINGPONG_PPID, &ping(5, b"abc")), pe.local_addr())
        .unwrap();
    u.send_to(&tagged(PINGPONG_PPID, &ping(6, b"")), pe.local_addr())
        .unwrap();
    let got = receive_tagged(&u, Duration::from_millis(500));
    assert_eq!(got.len(), 4, "{got:?}");
    assert_eq!(got[0].0, PINGPONG_PPID);
    assert_eq!(pong(&got[0].1), (5, 1, b"abc".to_vec()));
    assert_eq!(got[1].0, ASAP_PPID);
    let mut expected = PINGPONG_COOKIE_ID.to_vec();
    expected.extend_from_slice(&2u64.to_be_bytes());
    assert_eq!(cookie(&got[1].1), expected);
    assert_eq!(pong(&got[2].1), (6, 2, Vec::new()));

    // A user failing over echoes its last cookie: the count goes on.
    let mut echoed = PINGPONG_COOKIE_ID.to_vec();
    echoed.extend_from_slice(&41u64.to_be_bytes());
    let echo = AsapMessage::CookieEcho { cookie: &echoed };
    let mut buf = vec![0; echo.buffer_len()];
    let n = echo.emit(&mut buf).unwrap();
    let v = UdpSocket::bind(any()).unwrap();
    v.send_to(&tagged(ASAP_PPID, &buf[..n]), pe.local_addr())
        .unwrap();
    v.send_to(&tagged(PINGPONG_PPID, &ping(9, b"x")), pe.local_addr())
        .unwrap();
    let got = receive_tagged(&v, Duration::from_millis(500));
    assert_eq!(pong(&got[0].1), (9, 41, b"x".to_vec()));

    // Not a ping: the session ends, nothing is answered.
    let w = UdpSocket::bind(any()).unwrap();
    w.send_to(&tagged(PINGPONG_PPID, b"\x02\x00\x00\x04"), pe.local_addr())
        .unwrap();
    w.send_to(&tagged(PINGPONG_PPID, &ping(1, b"")), pe.local_addr())
        .unwrap();
    let got = receive_tagged(&w, Duration::from_millis(500));
    // The second datagram opens a new session, which answers it.
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(pong(&got[0].1), (1, 1, Vec::new()));
    pe.stop();
}
