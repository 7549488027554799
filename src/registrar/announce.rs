//! ASAP_SERVER_ANNOUNCE (RFC 5352 §3.6).

use super::*;

pub(super) const EMPTY_TRANSPORT: wire::TransportParam<'static> =
    wire::TransportParam::new(TransportProtocol::Sctp, 0, TransportUse::DataOnly, &[]);

impl<
        B: Backend,
        S: Storage,
        const OWNED: usize,
        const ASSOCS: usize,
        const QUEUE: usize,
        const EVENTS: usize,
    > Registrar<B, S, OWNED, ASSOCS, QUEUE, EVENTS>
{
    /// Changes the interval between SERVER_ANNOUNCEs (e.g. to (N+1)·T6 once
    /// N other registrars are known); the next one is due one new interval
    /// after the last.
    pub fn set_announce_interval(&mut self, interval: Duration) {
        let last = self.next_announce - self.config.announce_interval;
        self.config.announce_interval = interval;
        if self.next_announce != Instant::ZERO {
            self.next_announce = last + interval;
        }
    }

    /// ASAP_SERVER_ANNOUNCE every T6 on [`Destination::Multicast`] when enabled
    /// (first one at the first `handle_timeout`), as rsplib does. RFC 5352 §3.6
    /// asks for one every (N+1)·T6 with N the registrars heard announcing; an
    /// ENRP layer that counts them sets that with
    /// [`Registrar::set_announce_interval`].
    pub(super) fn announce(&mut self) -> bool {
        let mut params: [Option<wire::TransportParam<'_>>; MAX_ANNOUNCE_TRANSPORTS] =
            [None; MAX_ANNOUNCE_TRANSPORTS];
        let mut n = 0;
        for (slot, t) in params
            .iter_mut()
            .zip(self.config.announce_transports.iter())
        {
            *slot = Some(wire::TransportParam::new(
                t.protocol,
                t.port,
                TransportUse::DataOnly,
                &t.addresses,
            ));
            n += 1;
        }
        let list: [wire::TransportParam<'_>; MAX_ANNOUNCE_TRANSPORTS] = [
            params[0].unwrap_or(EMPTY_TRANSPORT),
            params[1].unwrap_or(EMPTY_TRANSPORT),
        ];
        let msg = AsapMessage::ServerAnnounce {
            server_id: self.config.server_id,
            transports: List::from_slice(&list[..n]),
        };
        match self.queue.push_asap(Destination::Multicast, &msg) {
            Ok(()) => {
                self.stats.announces += 1;
                true
            }
            Err(_) => false,
        }
    }
}
