//! Failover (RFC 5352): ENDPOINT_UNREACHABLE reports, the failover
//! selection in business card order, and the control channel that carries
//! COOKIE, BUSINESS_CARD and COOKIE_ECHO.

use super::*;

impl<const POOLS: usize, const PES: usize> PoolUser<POOLS, PES> {
    /// The PE `pe_id` of `pool` failed (a transport failure or timeout the
    /// application saw): ENDPOINT_UNREACHABLE goes to the home registrar,
    /// unless this PE was already reported and not listed again since; the
    /// PE leaves the cache. Then, unless `options` says `NO_FAILOVER`
    /// (`Ok(None)`), the failover selection (business card order, else
    /// policy) with the session's last cookie — or
    /// [`PoolUserError::WouldBlock`] when no other PE is cached (a
    /// resolution starts, and the next successful [`select`](Self::select)
    /// is the failover selection).
    pub fn report_unreachable(
        &mut self,
        now: Instant,
        pool: &PoolHandle,
        pe_id: PeId,
        options: SendOptions,
    ) -> Result<Option<Selection>, PoolUserError> {
        self.prepare();
        let i = self.find(pool).ok_or(PoolUserError::UnknownPool)?;
        let first = !self.pools[i].reported.contains(&pe_id);
        if first {
            let p = &mut self.pools[i];
            if p.reported.is_full() {
                p.reported.remove(0);
            }
            let _ = p.reported.push(pe_id);
            self.send_unreachable(now, *pool, pe_id);
        }
        let p = &mut self.pools[i];
        if let Some(k) = p.position(pe_id) {
            p.elements.remove(k);
            if p.rr_next > k {
                p.rr_next -= 1;
            }
        }
        if p.control.is_some_and(|(_, pe)| pe == pe_id) {
            p.control = None;
        }
        if p.echo_to == Some(pe_id) {
            p.echo_to = None;
        }
        if !options.fails_over() {
            return Ok(None);
        }
        p.failed = Some(pe_id);
        if p.elements.is_empty() {
            if p.request.is_none() {
                self.start_resolution(now, i);
            }
            return Err(PoolUserError::WouldBlock);
        }
        self.select_in(i, options).map(Some)
    }

    /// Says that `assoc` is the control channel to `pe_id` of `pool`: COOKIE
    /// and BUSINESS_CARD on it are stored for the pool, and a cookie due to
    /// this PE after a failover is sent on it now in COOKIE_ECHO. Returns
    /// whether a COOKIE_ECHO was queued.
    pub fn attach_control_channel(
        &mut self,
        pool: &PoolHandle,
        pe_id: PeId,
        assoc: AssocId,
    ) -> Result<bool, PoolUserError> {
        let i = self.find(pool).ok_or(PoolUserError::UnknownPool)?;
        let p = &mut self.pools[i];
        p.control = Some((assoc, pe_id));
        if p.echo_to != Some(pe_id) {
            return Ok(false);
        }
        let Some(cookie) = p.cookie.as_ref() else {
            return Ok(false);
        };
        self.client.tx.push_asap(
            Destination::Association(assoc),
            &AsapMessage::CookieEcho { cookie },
        )?;
        self.pools[i].echo_to = None;
        Ok(true)
    }

    pub(super) fn send_unreachable(&mut self, now: Instant, pool: PoolHandle, pe_id: PeId) {
        match self.client.hunt.home() {
            Some(home) => {
                let m = AsapMessage::EndpointUnreachable {
                    pool_handle: pool.as_bytes(),
                    pe_id,
                };
                match self
                    .client
                    .tx
                    .push_asap(Destination::Association(home.assoc), &m)
                {
                    Ok(()) => self.unreachable_sent = self.unreachable_sent.saturating_add(1),
                    Err(_) => self.client.send_failed(),
                }
            }
            None => {
                if self.pending_reports.push((pool, pe_id)).is_err() {
                    self.client.send_failed();
                }
                if let Some(home) = self.client.hunt.ensure_home(now) {
                    self.home_found(now, home);
                }
            }
        }
    }

    pub(super) fn on_business_card(&mut self, now: Instant, message: &AsapMessage<'_>) {
        let AsapMessage::BusinessCard {
            pool_handle,
            elements,
            ..
        } = *message
        else {
            return;
        };
        let Ok(handle) = PoolHandle::new(pool_handle) else {
            return;
        };
        let Ok(i) = self.entry(&handle) else {
            return;
        };
        let limit = self.element_limit();
        let p = &mut self.pools[i];
        p.card.clear();
        for e in elements.iter() {
            if p.card.len() >= limit {
                break;
            }
            if p.card.contains(&e.pe_id) {
                continue;
            }
            let _ = p.card.push(e.pe_id);
            if p.position(e.pe_id).is_none() && p.elements.len() < limit {
                if let Some(c) = CachedPe::from_param(&e) {
                    let _ = p.elements.push(c);
                }
            }
        }
        let n = p.card.len();
        let unresolved = p.fresh_until.is_none() && p.request.is_none();
        if unresolved {
            self.start_resolution(now, i);
        }
        self.event(Event::BusinessCard {
            pool: handle,
            elements: n,
        });
    }
}

/// The next cached PE after `failed` in business card order (wrapping), or
/// the first cached one of the card when `failed` is not on it.
pub(super) fn card_successor(card: &[PeId], failed: PeId, elements: &[CachedPe]) -> Option<usize> {
    if card.is_empty() {
        return None;
    }
    let start = card.iter().position(|&c| c == failed).map_or(0, |k| k + 1);
    (0..card.len())
        .map(|s| card[(start + s) % card.len()])
        .filter(|&c| c != failed)
        .find_map(|c| elements.iter().position(|e| e.pe_id == c))
}
