//! The return-routability check: no answer larger than three times its
//! request to an association whose return path is not verified; the
//! ASAP_COOKIE challenge and its echo.

use crate::support::registrar::*;
use rserpool::handlespace::Fixed;
use rserpool::registrar::{Registrar, AMPLIFICATION_LIMIT, CHALLENGE_LEN, MIN_CHALLENGE_LEN};
use rserpool::storage::RedBlackTree;
use rserpool::transmit::{Destination, Machine, TransportEvent};
use rserpool::wire::{AsapMessage, Protocol};
use rserpool::Instant;

/// Room for 128 PEs in one pool.
type Big = Registrar<RedBlackTree, Fixed<256, 4, 256, 4>, 256, 16, 65536, 64>;

const T0: Instant = Instant::from_secs(1);
const POOL: &str = "amp";

fn report_up(r: &mut Big, n: u32, verified: bool) {
    r.handle_transport_event(
        T0,
        TransportEvent::Up {
            assoc: a(n),
            remote: pe_addr(n as u8),
            protocol: Protocol::Asap,
            verified,
        },
    );
}

/// Every queued message as (destination, bytes).
fn out(r: &mut Big) -> Vec<(Destination, Vec<u8>)> {
    crate::support::machine::drain(r)
}

/// A registrar answering up to 128 PEs, with 128 PEs registered in
/// [`POOL`] over the verified association 1.
fn with_128_pes() -> Box<Big> {
    let mut c = config();
    c.max_handle_resolution_items = 128;
    let mut r: Box<Big> = Box::new(Registrar::new(c));
    report_up(&mut r, 1, true);
    for id in 1..=128 {
        r.handle(
            T0,
            src(1),
            Protocol::Asap,
            &PeSpec::new(id).registration(POOL),
        );
    }
    let accepted = out(&mut r)
        .iter()
        .filter(|(_, b)| {
            matches!(
                AsapMessage::parse(b),
                Ok(AsapMessage::RegistrationResponse {
                    rejected: false,
                    ..
                })
            )
        })
        .count();
    assert_eq!(accepted, 128);
    while r.poll_event().is_some() {}
    r
}

/// The cookie of an ASAP_COOKIE.
fn cookie_of(b: &[u8]) -> Vec<u8> {
    match AsapMessage::parse(b).unwrap() {
        AsapMessage::Cookie { cookie } => cookie.to_vec(),
        m => panic!("not a challenge: {m:?}"),
    }
}

/// The number of PEs in a HANDLE_RESOLUTION_RESPONSE.
fn pes_in(b: &[u8]) -> usize {
    match AsapMessage::parse(b).unwrap() {
        AsapMessage::HandleResolutionResponse { elements, .. } => elements.iter().count(),
        m => panic!("not a resolution answer: {m:?}"),
    }
}

fn echo(cookie: &[u8]) -> Vec<u8> {
    emit(&AsapMessage::CookieEcho { cookie })
}

#[test]
fn a_12_byte_resolution_on_an_unverified_association_gets_only_the_challenge() {
    let mut r = with_128_pes();
    report_up(&mut r, 2, false);
    assert_eq!(r.association_verified(a(2)), Some(false));
    let request = resolution(POOL, None);
    assert_eq!(request.len(), 12);

    r.handle(T0, src(2), Protocol::Asap, &request);
    let sent = out(&mut r);
    assert_eq!(sent.len(), 1, "{sent:?}");
    let (dest, b) = &sent[0];
    assert_eq!(*dest, Destination::Association(a(2)));
    assert!(
        b.len() <= AMPLIFICATION_LIMIT * request.len(),
        "{} bytes",
        b.len()
    );
    assert!(b.len() <= 36);
    let cookie = cookie_of(b);
    assert!((MIN_CHALLENGE_LEN..=CHALLENGE_LEN).contains(&cookie.len()));
    let s = *r.stats();
    assert_eq!(
        (s.challenges_sent, s.answers_withheld, s.resolutions),
        (1, 1, 0)
    );

    // The echo verifies the path; it is not answered.
    r.handle(T0, src(2), Protocol::Asap, &echo(&cookie));
    assert!(out(&mut r).is_empty());
    assert_eq!(r.stats().paths_verified, 1);
    assert_eq!(r.association_verified(a(2)), Some(true));

    // From now on the answer is complete.
    r.handle(T0, src(2), Protocol::Asap, &request);
    let sent = out(&mut r);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, Destination::Association(a(2)));
    assert_eq!(pes_in(&sent[0].1), 128);
    assert!(sent[0].1.len() > 50 * request.len());
    assert_eq!(r.stats().resolutions, 1);
    assert_eq!(r.stats().challenges_sent, 1);
}

#[test]
fn a_wrong_echo_does_not_verify() {
    let mut r = with_128_pes();
    report_up(&mut r, 2, false);
    report_up(&mut r, 3, false);
    let request = resolution(POOL, None);
    r.handle(T0, src(2), Protocol::Asap, &request);
    let cookie = cookie_of(&out(&mut r)[0].1);

    let mut wrong = cookie.clone();
    wrong[0] ^= 1;
    r.handle(T0, src(2), Protocol::Asap, &echo(&wrong));
    // Shorter, longer, and another association's challenge.
    r.handle(T0, src(2), Protocol::Asap, &echo(&cookie[..8]));
    let mut longer = cookie.clone();
    longer.extend_from_slice(&[0; 4]);
    r.handle(T0, src(2), Protocol::Asap, &echo(&longer));
    r.handle(T0, src(3), Protocol::Asap, &echo(&cookie));
    assert!(out(&mut r).is_empty());
    let s = *r.stats();
    assert_eq!((s.echoes_rejected, s.paths_verified), (4, 0));
    assert_eq!(r.association_verified(a(2)), Some(false));
    assert_eq!(r.association_verified(a(3)), Some(false));

    // Still challenged, with the same challenge.
    r.handle(T0, src(2), Protocol::Asap, &request);
    let sent = out(&mut r);
    assert_eq!(sent.len(), 1);
    assert!(sent[0].1.len() <= 3 * request.len());
    assert_eq!(cookie_of(&sent[0].1), cookie);
    assert_eq!(r.stats().resolutions, 0);

    // The right one still works.
    r.handle(T0, src(2), Protocol::Asap, &echo(&cookie));
    assert_eq!(r.stats().paths_verified, 1);
}

#[test]
fn a_verified_association_is_never_challenged() {
    let mut r = with_128_pes();
    report_up(&mut r, 2, true);
    let request = resolution(POOL, None);
    for _ in 0..3 {
        r.handle(T0, src(2), Protocol::Asap, &request);
        let sent = out(&mut r);
        assert_eq!(sent.len(), 1);
        assert_eq!(pes_in(&sent[0].1), 128);
    }
    let s = *r.stats();
    assert_eq!((s.challenges_sent, s.answers_withheld), (0, 0));
    assert_eq!(s.resolutions, 3);
    // An echo on a verified association verifies nothing.
    r.handle(T0, src(2), Protocol::Asap, &echo(&[7; 16]));
    assert!(out(&mut r).is_empty());
    assert_eq!(r.stats().echoes_rejected, 1);
}

#[test]
fn small_answers_to_an_unverified_association_go_out_unchallenged() {
    let mut r = with_128_pes();
    report_up(&mut r, 2, false);
    // Unknown pool: a 20-byte answer to a 12-byte request.
    let request = resolution("nop", None);
    r.handle(T0, src(2), Protocol::Asap, &request);
    let sent = out(&mut r);
    assert_eq!(sent.len(), 1);
    assert!(sent[0].1.len() <= 3 * request.len());
    assert!(matches!(
        AsapMessage::parse(&sent[0].1).unwrap(),
        AsapMessage::HandleResolutionResponse { error: Some(_), .. }
    ));
    // A PE registers over an unverified association: its answer is small.
    r.handle(
        T0,
        src(2),
        Protocol::Asap,
        &PeSpec::new(500).registration("q"),
    );
    let sent = out(&mut r);
    assert_eq!(sent.len(), 1);
    assert!(matches!(
        AsapMessage::parse(&sent[0].1).unwrap(),
        AsapMessage::RegistrationResponse {
            rejected: false,
            ..
        }
    ));
    assert_eq!(r.stats().challenges_sent, 0);
}

#[test]
fn every_answer_to_an_unverified_association_stays_within_three_times_its_request() {
    let mut r = with_128_pes();
    let requests: Vec<Vec<u8>> = vec![
        resolution(POOL, None),
        resolution(POOL, Some(1)),
        resolution(POOL, Some(3)),
        resolution("a-pool-handle-of-thirty-two-byte", None),
        resolution("x", None),
        deregistration(POOL, 1),
        PeSpec::new(9).registration(POOL),
        // Unknown message type with a parameter to report.
        vec![0x7F, 0, 0, 8, 0x40, 0x01, 0, 4],
        // The smallest message there is.
        vec![0x05, 0, 0, 4],
    ];
    for (i, request) in requests.iter().enumerate() {
        let n = 10 + i as u32;
        report_up(&mut r, n, false);
        r.handle(T0, src(n), Protocol::Asap, request);
        let to_source: usize = out(&mut r)
            .iter()
            .filter(|(d, _)| *d == Destination::Association(a(n)))
            .map(|(_, b)| b.len())
            .sum();
        assert!(
            to_source <= AMPLIFICATION_LIMIT * request.len(),
            "request {i}: {to_source} bytes answered to {} bytes",
            request.len()
        );
    }
}

#[test]
fn challenges_repeat_with_the_seed_differ_per_association_and_follow_the_key() {
    let challenge = |r: &mut Big, n: u32| {
        report_up(r, n, false);
        r.handle(T0, src(n), Protocol::Asap, &resolution(POOL, None));
        cookie_of(&out(r)[0].1)
    };
    let mut r1 = with_128_pes();
    let mut r2 = with_128_pes();
    let a1 = challenge(&mut r1, 2);
    let b1 = challenge(&mut r1, 3);
    assert_ne!(a1, b1);
    // The same seed, the same challenges (a run repeats)...
    assert_eq!(challenge(&mut r2, 2), a1);
    // ... unless the host keys them.
    let mut r3 = with_128_pes();
    r3.set_challenge_key([0x5A; 16]);
    let c = challenge(&mut r3, 2);
    assert_ne!(c, a1);
    r3.handle(T0, src(2), Protocol::Asap, &echo(&c));
    assert_eq!(r3.association_verified(a(2)), Some(true));
}
