//! Handle resolution (RFC 5352 §3.7): HANDLE_RESOLUTION to the home
//! registrar under T1, resends and server hunts, other registrars asked
//! when the home does not know the pool, and the answer taken into the
//! cache.

use super::*;

impl<const POOLS: usize, const PES: usize> PoolUser<POOLS, PES> {
    pub(super) fn start_resolution(&mut self, now: Instant, i: usize) {
        let mut r = Request::new();
        r.wait_for_home(now, self.config.t1_enrp_request, self.client.hunt.known());
        self.pools[i].request = Some(r);
        if self.client.hunt.home().is_some() {
            self.send_resolution(now, i);
        } else if let Some(home) = self.client.hunt.ensure_home(now) {
            self.home_found(now, home);
        }
    }

    pub(super) fn send_resolution(&mut self, now: Instant, i: usize) {
        let Some(home) = self.client.hunt.home() else {
            return;
        };
        let p = &self.pools[i];
        let m = AsapMessage::HandleResolution {
            subscribe: false,
            pool_handle: p.handle.as_bytes(),
            items: self.config.resolution_items,
        };
        self.client.send(Destination::Association(home.assoc), &m);
        if let Some(r) = self.pools[i].request.as_mut() {
            r.deadline = Some(now + self.config.t1_enrp_request);
            r.resent_for_challenge = false;
        }
    }

    pub(super) fn request_timed_out(&mut self, now: Instant, i: usize) {
        let Some(r) = self.pools[i].request else {
            return;
        };
        if r.deadline.is_none()
            && !r.knew_registrar
            && self.client.hunt.home().is_none()
            && self.client.hunt.connecting() > 0
        {
            // Not sent: no registrar was known as the wait began, and one
            // announced since is being connected to. It gets one more T1
            // rather than count as a registrar that did not answer.
            if let Some(r) = self.pools[i].request.as_mut() {
                r.home_wait = Some(now + self.config.t1_enrp_request);
                r.knew_registrar = true;
            }
            return;
        }
        if r.retransmits >= self.config.max_request_retransmit {
            let pool = self.pools[i].handle;
            self.pools[i].request = None;
            self.event(Event::ResolutionFailed { pool, cause: None });
            // The home registrar does not answer: look for another.
            if self.client.hunt.home().is_some() {
                if let Some(home) = self.client.hunt.lose_home(now) {
                    self.home_found(now, home);
                }
            }
            return;
        }
        let mut next = Request {
            retransmits: r.retransmits + 1,
            ..r
        };
        next.wait_for_home(now, self.config.t1_enrp_request, self.client.hunt.known());
        self.pools[i].request = Some(next);
        // RFC 5352 §3.7: server hunt in parallel; a registrar connected
        // already takes over as the home and gets the resend.
        if self.client.hunt.home().is_some() && self.client.hunt.alternative(now) {
            if let Some(home) = self.client.hunt.lose_home(now) {
                self.home_found(now, home);
                return;
            }
        }
        if self.client.hunt.home().is_some() {
            self.send_resolution(now, i);
        } else if let Some(home) = self.client.hunt.ensure_home(now) {
            self.home_found(now, home);
        }
    }

    /// The registrar on `assoc` answered pool `i`'s resolution with
    /// Unknown Pool Handle. When the home said so and another registrar,
    /// one that has not said so in this attempt, is known, the resolution
    /// moves there (RFC 5352 §3.7: adopt another PR that answers). A
    /// repeated answer of a registrar already counted is ignored. Returns
    /// `false` when as many registrars as are known have said so; the
    /// caller then reports the failure.
    pub(super) fn ask_another_registrar(
        &mut self,
        now: Instant,
        i: usize,
        request: Option<Request>,
        assoc: Option<AssocId>,
    ) -> bool {
        let Some(mut r) = request else {
            return false;
        };
        let home = self.client.hunt.home();
        let from_home = home.is_some() && home.map(|h| h.assoc) == assoc;
        if let Some(remote) = assoc.and_then(|a| self.client.hunt.remote_of(a)) {
            if r.asked.contains(&Some(remote)) {
                if !(from_home && r.deadline.is_some()) {
                    // A late or duplicated answer, counted already.
                    self.pools[i].request = Some(r);
                    return true;
                }
                // Asked again (no other registrar could be reached): a
                // new answer, counted below.
            } else if let Some(slot) = r.asked.iter_mut().find(|a| a.is_none()) {
                *slot = Some(remote);
            }
        }
        r.unknown = r.unknown.saturating_add(1);
        if r.unknown as usize >= self.client.hunt.known() {
            return false;
        }
        if home.is_some() && !from_home {
            // Not the home's answer: the request goes on at the home.
            self.pools[i].request = Some(r);
            return true;
        }
        r.wait_for_home(now, self.config.t1_enrp_request, self.client.hunt.known());
        self.pools[i].request = Some(r);
        let mut excluded = [SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0); MAX_REGISTRARS];
        let mut n = 0;
        for (slot, a) in excluded.iter_mut().zip(r.asked.iter().flatten()) {
            *slot = *a;
            n += 1;
        }
        self.registrar_moves = self.registrar_moves.saturating_add(1);
        if let Some(home) = self.client.hunt.move_home(now, &excluded[..n]) {
            self.home_found(now, home);
        }
        true
    }

    pub(super) fn on_resolution(
        &mut self,
        now: Instant,
        assoc: Option<AssocId>,
        message: &AsapMessage<'_>,
    ) {
        let AsapMessage::HandleResolutionResponse {
            pool_handle,
            policy,
            elements,
            ref error,
            ..
        } = *message
        else {
            return;
        };
        let Some(i) = self
            .pools
            .iter()
            .position(|p| p.handle.as_bytes() == pool_handle)
        else {
            return;
        };
        let limit = self.element_limit();
        let p = &mut self.pools[i];
        let request = p.request.take();
        if error.is_some() || elements.is_empty() {
            let cause = asap_error::first_cause(error);
            if cause == Some(CauseCode::UnknownPoolHandle) {
                p.elements.clear();
                p.fresh_until = None;
                if self.ask_another_registrar(now, i, request, assoc) {
                    return;
                }
            }
            let pool = self.pools[i].handle;
            self.event(Event::ResolutionFailed { pool, cause });
            return;
        }
        p.policy = policy
            .and_then(|x| x.policy())
            .unwrap_or(Policy::RoundRobin);
        p.elements.clear();
        p.rr_next = 0;
        for e in elements.iter() {
            if p.elements.len() >= limit {
                break;
            }
            if let Some(c) = CachedPe::from_param(&e) {
                if p.position(c.pe_id).is_none() {
                    let _ = p.elements.push(c);
                }
            }
        }
        // Listed again: a later failure is a new failure event.
        let listed = &p.elements;
        p.reported.retain(|r| !listed.iter().any(|e| e.pe_id == *r));
        p.fresh_until = Some(now + self.config.stale_cache_value);
        let (pool, n) = (p.handle, p.elements.len());
        self.event(Event::Resolved { pool, elements: n });
    }
}
