//! With `alloc`, the owned-PE table is bounded by `OWNED` only, beyond the
//! 65,536 entries of a fixed index map: a host registrar owns 100,000 PEs.

use crate::support::registrar::{config, PeSpec};
use rserpool::handlespace::Growable;
use rserpool::registrar::Registrar;
use rserpool::storage::RedBlackTree;
use rserpool::transmit::{Machine, Source, TransportEvent};
use rserpool::wire::{AsapMessage, Protocol};
use rserpool::{AssocId, CauseCode, Instant};

const OWNED: usize = 70_000;

type Host = Registrar<RedBlackTree, Growable, OWNED, 16, 65536, 64>;

#[test]
fn owns_up_to_owned_beyond_an_index_maps_limit() {
    // One association registers them all: no per-association or per-host
    // quota here.
    let mut c = config();
    c.max_registrations_per_association = None;
    c.max_registrations_per_host = None;
    let mut r: Box<Host> = Box::new(Registrar::new(c));
    let now = Instant::from_secs(1);
    r.handle_transport_event(
        now,
        TransportEvent::Up {
            assoc: AssocId(1),
            remote: "10.0.0.1:5000".parse().unwrap(),
            protocol: Protocol::Asap,
            verified: true,
        },
    );
    let mut buf = vec![0u8; rserpool::transmit::MAX_MESSAGE_SIZE];
    let mut refused = Vec::new();
    for id in 1..=OWNED as u32 + 2 {
        let pool = format!("pool{}", id % 100);
        let m = PeSpec::new(id).registration(&pool);
        r.handle(now, Source::Association(AssocId(1)), Protocol::Asap, &m);
        while let Some(t) = r.poll_transmit(&mut buf).unwrap() {
            if let AsapMessage::RegistrationResponse {
                rejected: true,
                error,
                pe_id,
                ..
            } = AsapMessage::parse(&buf[..t.len]).unwrap()
            {
                refused.push((pe_id.get(), error.and_then(|e| e.code())));
            }
        }
        while r.poll_event().is_some() {}
    }
    assert_eq!(r.owned_count(), OWNED);
    let lack = Some(CauseCode::LackOfResources);
    assert_eq!(
        refused,
        vec![(OWNED as u32 + 1, lack), (OWNED as u32 + 2, lack)]
    );
}
