//! Malformed and random ENRP input never panics and never grows memory
//! beyond the configured bounds.

use crate::support::enrp::*;
use proptest::prelude::*;
use rserpool::registrar::{MAX_PEERS, MAX_SESSIONS, MAX_TAKEOVERS};
use rserpool::transmit::{Machine, Source, TransportEvent};
use rserpool::wire::Protocol;
use rserpool::{AssocId, Duration};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_enrp_input_is_survived(
        inputs in proptest::collection::vec(
            (0u8..14, 0u8..4, any::<u32>(), proptest::collection::vec(any::<u8>(), 0..80), 0u8..6),
            1..40,
        )
    ) {
        let mut r = with_peers(&[(7, 11), (8, 12)]);
        let mut now = T0;
        for (ty, flags, sender, body, assoc) in inputs {
            // A plausible header, random sender, random rest.
            let mut m = vec![ty, flags, 0, 0];
            m.extend_from_slice(&(sender % 16 + 1).to_be_bytes());
            m.extend_from_slice(&[0, 0, 0, 0]);
            m.extend_from_slice(&body);
            let len = m.len() as u16;
            m[2..4].copy_from_slice(&len.to_be_bytes());
            let source = if assoc == 5 {
                Source::Datagram(peer_addr(3))
            } else {
                src(10 + u32::from(assoc))
            };
            r.handle(now, source, Protocol::Enrp, &m);
            if assoc == 4 {
                r.handle_transport_event(now, TransportEvent::Down { assoc: AssocId(14) });
            }
            now += Duration::from_millis(700);
            if let Some(t) = r.poll_timeout() {
                if t <= now {
                    r.handle_timeout(now);
                }
            }
            drain_all(&mut r);
            events(&mut r);
            prop_assert!(r.peers().len() <= MAX_PEERS);
            prop_assert!(r.enrp_sessions() <= MAX_SESSIONS);
            prop_assert!(r.takeovers_in_progress().count() <= MAX_TAKEOVERS);
        }
        r.handlespace().check().unwrap();
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Random sequences of well-formed ENRP messages from a few peers, with
    /// association failures and time passing: no panic, bounds hold, the
    /// handlespace stays consistent.
    #[test]
    fn random_valid_enrp_sequences_are_survived(
        steps in proptest::collection::vec((0u8..12, 1u32..6, 1u32..8, any::<u16>(), any::<bool>()), 1..60)
    ) {
        use rserpool::wire::{EnrpBody, List, UpdateAction};
        let mut r = with_peers(&[(1, 11), (2, 12), (3, 13)]);
        up(&mut r, T0, 1);
        register_enrp(&mut r, T0, 1, "p", &PeSpec::new(50));
        let mut now = T0;
        for (kind, from, id, x, flag) in steps {
            let assoc = 10 + from;
            match kind {
                0 => deliver(&mut r, now, assoc, from, presence_body(x, flag)),
                1 => update(&mut r, now, assoc, from, UpdateAction::AddPe, "p", &PeerPe::new(id, from)),
                2 => update(&mut r, now, assoc, from, UpdateAction::DelPe, "p", &PeerPe::new(id, from)),
                3 => table_response(&mut r, now, assoc, from, flag, "p", &[PeerPe::new(id, from)]),
                4 => deliver(&mut r, now, assoc, from, EnrpBody::HandleTableRequest { own_children_only: flag }),
                5 => deliver(&mut r, now, assoc, from, EnrpBody::InitTakeover { target: sid(id) }),
                6 => deliver(&mut r, now, assoc, from, EnrpBody::InitTakeoverAck { target: sid(id) }),
                7 => deliver(&mut r, now, assoc, from, EnrpBody::TakeoverServer { target: sid(id) }),
                8 => deliver(&mut r, now, assoc, from, EnrpBody::ListRequest),
                9 => deliver(&mut r, now, assoc, from, EnrpBody::ListResponse { rejected: flag, servers: List::empty() }),
                10 => r.handle_transport_event(now, TransportEvent::Down { assoc: AssocId(assoc) }),
                _ => enrp_up(&mut r, now, assoc, peer_addr(from as u8)),
            }
            now += Duration::from_millis(u64::from(x % 4000));
            while let Some(t) = r.poll_timeout() {
                if t > now {
                    break;
                }
                r.handle_timeout(t.max(now));
                drain_all(&mut r);
            }
            drain_all(&mut r);
            events(&mut r);
            prop_assert!(r.peers().len() <= MAX_PEERS);
            prop_assert!(r.enrp_sessions() <= MAX_SESSIONS);
            // Every PE owned here is in the owned table and vice versa.
            prop_assert_eq!(r.owned_count(), r.handlespace().owned_count(r.server_id()));
        }
        r.handlespace().check().unwrap();
    }
}
