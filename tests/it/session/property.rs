//! Random interleavings of sends, deliveries, PE crashes and restarts,
//! registrar crashes and restarts, failing associations, application
//! failovers and time: the session never
//! loses a message its resend policy promises to deliver, never delivers
//! one twice on an association, never sends an answered one again, and the
//! application never sees two answers to one request.

use std::collections::BTreeMap;

use crate::support::session::*;
use proptest::prelude::*;
use rserpool::session::user::{Event, SessionState};
use rserpool::session::{ResendPolicy, SessionId};
use rserpool::Duration;

const PES: usize = 3;

#[derive(Clone, Debug)]
enum Op {
    Send(u8),
    CrashPe(usize),
    RestartPe(usize),
    CrashRegistrar,
    RestartRegistrar,
    /// The application fails over, reporting the PE or not.
    Failover(bool),
    /// An association fails without a crash.
    Abort(usize),
    /// Every node puts its output on the network.
    Flush,
    /// Some messages on the network arrive.
    Deliver(usize),
    Wait(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (1u8..4).prop_map(Op::Send),
        2 => (0..PES).prop_map(Op::CrashPe),
        2 => (0..PES).prop_map(Op::RestartPe),
        1 => Just(Op::CrashRegistrar),
        1 => Just(Op::RestartRegistrar),
        1 => any::<bool>().prop_map(Op::Failover),
        1 => (0usize..16).prop_map(Op::Abort),
        3 => Just(Op::Flush),
        3 => (1usize..6).prop_map(Op::Deliver),
        2 => (0u64..4000).prop_map(Op::Wait),
    ]
}

fn policy() -> impl Strategy<Value = ResendPolicy> {
    prop_oneof![
        Just(ResendPolicy::None),
        (1u16..5).prop_map(ResendPolicy::LastUnacknowledged),
    ]
}

fn seq_of(bytes: &[u8]) -> u64 {
    u64::from_be_bytes(bytes[..8].try_into().unwrap())
}

/// Sends what the window allows: with `LastUnacknowledged(n)`, at most `n`
/// unanswered requests (the promise holds for those); without resend, 3.
fn send(net: &mut Net, s: SessionId, window: usize, sent: &mut Vec<u64>, want: u8) {
    for _ in 0..want {
        let answered: std::collections::BTreeSet<u64> = net
            .user_received
            .iter()
            .map(|(_, _, b)| seq_of(b))
            .collect();
        let outstanding = sent.iter().filter(|q| !answered.contains(q)).count();
        if outstanding >= window {
            return;
        }
        let now = net.now;
        let seq = sent.len() as u64;
        let got = net.user().send(now, s, 21, &body(seq, 16)).unwrap();
        assert_eq!(got, seq);
        sent.push(seq);
    }
}

fn check(policy: ResendPolicy, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut config = user_config(policy);
    config.max_failovers = 10_000;
    let mut net = Net::with_config(PES, config);
    net.ack_answers = true;
    net.run(Duration::from_secs(2));
    let now = net.now;
    let s = net.user().connect(now, pool()).unwrap();
    net.run(Duration::from_secs(1));
    let state = net.user().state(s);
    prop_assert!(
        matches!(state, Some(SessionState::Connected { .. })),
        "not connected: {:?}",
        state
    );
    let window = match policy {
        ResendPolicy::LastUnacknowledged(n) => usize::from(n),
        ResendPolicy::None => 3,
    };
    let mut sent = Vec::new();
    for op in ops {
        match op {
            Op::Send(n) => send(&mut net, s, window, &mut sent, n),
            Op::CrashPe(n) => net.crash(element(n)),
            Op::RestartPe(n) => net.restart(element(n)),
            Op::CrashRegistrar => net.crash(REGISTRAR),
            Op::RestartRegistrar => net.restart(REGISTRAR),
            Op::Failover(report) => {
                let now = net.now;
                let _ = net.user().failover(now, s, report);
            }
            Op::Abort(k) => {
                net.abort(k);
            }
            Op::Flush => net.flush(),
            Op::Deliver(k) => net.deliver(k),
            Op::Wait(ms) => net.run(Duration::from_millis(ms)),
        }
    }
    // Everything comes back; the session settles on a PE.
    for n in 0..PES {
        net.restart(element(n));
    }
    net.restart(REGISTRAR);
    net.run(Duration::from_secs(40));
    // The session is never given up (the failover limit is out of reach).
    prop_assert!(
        !net.user_events
            .iter()
            .any(|e| matches!(e, Event::Closed { .. })),
        "closed: {:?}",
        net.user_events
    );
    let state = net.user().state(s);
    prop_assert!(
        matches!(state, Some(SessionState::Connected { .. })),
        "not connected: {:?}",
        state
    );

    // Answers: never two for one request.
    let mut answers: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for ((_, _, b), tick) in net.user_received.iter().zip(net.user_ticks.iter()) {
        answers.entry(seq_of(b)).or_default().push(*tick);
    }
    for (seq, ticks) in &answers {
        prop_assert_eq!(ticks.len(), 1, "request {} answered twice", seq);
    }
    // Receptions at the PEs: per association at most once; never after the
    // answer reached the user; without resend, at most once anywhere.
    let mut total: BTreeMap<u64, usize> = BTreeMap::new();
    for n in 0..PES {
        let app = net.element(n).1.clone();
        let mut per_assoc: BTreeMap<(u32, SessionId, u64), usize> = BTreeMap::new();
        for ((session, ppid, b), (inc, tick)) in app.received.iter().zip(app.received_at.iter()) {
            prop_assert_eq!(*ppid, 21);
            let seq = seq_of(b);
            prop_assert_eq!(b, &body(seq, 16));
            *per_assoc.entry((*inc, *session, seq)).or_default() += 1;
            *total.entry(seq).or_default() += 1;
            if let Some(t) = answers.get(&seq) {
                prop_assert!(*tick < t[0], "request {} sent again after its answer", seq);
            }
        }
        for (k, c) in per_assoc {
            prop_assert_eq!(c, 1, "{:?} received twice on one association", k);
        }
    }
    match policy {
        ResendPolicy::None => {
            for (seq, c) in &total {
                prop_assert_eq!(*c, 1, "request {} sent twice without resend", seq);
            }
        }
        ResendPolicy::LastUnacknowledged(_) => {
            // Nothing the window covers is lost.
            for seq in &sent {
                prop_assert!(answers.contains_key(seq), "request {} lost", seq);
            }
            prop_assert_eq!(net.user().unacknowledged(s), 0);
        }
    }
    // Still usable.
    let before = net.user_received.len();
    let now = net.now;
    net.user().send(now, s, 21, &body(999, 16)).unwrap();
    net.run(Duration::from_secs(1));
    prop_assert_eq!(net.user_received.len(), before + 1);
    Ok(())
}

proptest! {
    // 256 cases unless PROPTEST_CASES says otherwise.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256),
        ..ProptestConfig::default()
    })]

    #[test]
    fn no_loss_no_duplicates(policy in policy(), ops in proptest::collection::vec(op(), 1..40)) {
        check(policy, ops)?;
    }
}

#[test]
fn a_crash_with_requests_in_flight_loses_none_with_resend() {
    check(
        ResendPolicy::LastUnacknowledged(3),
        vec![
            Op::Send(3),
            Op::Flush,
            Op::Deliver(2),
            Op::CrashPe(0),
            Op::CrashPe(1),
            Op::CrashPe(2),
            Op::Wait(3000),
            Op::RestartPe(1),
            Op::CrashRegistrar,
            Op::Wait(500),
        ],
    )
    .unwrap();
}
