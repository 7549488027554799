//! The hooks through which the ENRP layer (or an application) changes the
//! handlespace: peers' updates, takeovers, checksums.

use super::*;

impl<
        B: Backend,
        S: Storage,
        const OWNED: usize,
        const ASSOCS: usize,
        const QUEUE: usize,
        const EVENTS: usize,
    > Registrar<B, S, OWNED, ASSOCS, QUEUE, EVENTS>
{
    /// A registrar's last word before a graceful stop: an ENRP_PRESENCE to
    /// every peer (and the multicast channel, when on) with its final
    /// checksum. RFC 5353 has no departure message; a last PRESENCE is what
    /// it allows, so that the peers audit their copy of this registrar's
    /// PEs against its final state before they notice its silence and take
    /// its PEs over. Nothing is sent with ENRP off.
    pub fn send_last_presence(&mut self) {
        if self.config.enrp.enabled {
            self.presence_groupcast();
        }
    }

    /// The PE checksum over the PEs this registrar owns (RFC 5353 §3.6.2).
    pub fn own_checksum(&self) -> u16 {
        self.hs.owner_checksum(self.config.server_id)
    }

    /// The PE checksum over the PEs `peer` owns in this handlespace.
    pub fn peer_checksum(&self, peer: ServerId) -> u16 {
        self.hs.owner_checksum(peer)
    }

    /// A cursor over the PEs this registrar owns, for
    /// [`Handlespace::next_owned`] (HANDLE_TABLE_RESPONSE pages).
    pub fn owned_cursor(&self) -> OwnershipCursor {
        OwnershipCursor::new(self.config.server_id)
    }

    /// Applies a peer's ENRP_HANDLE_UPDATE ADD_PE: adds or updates a PE
    /// owned by `owner`, with the same checks as a registration. The PE runs
    /// a lifetime timer only and has no association here. A PE this
    /// registrar owned moves to `owner` (it registered there since). No
    /// event is raised.
    pub fn apply_peer_update(
        &mut self,
        now: Instant,
        owner: ServerId,
        pool_handle: &[u8],
        pe: &PoolElementParam<'_>,
    ) -> Result<RegisterOutcome, RegistrarError> {
        if owner == self.config.server_id {
            return Err(RegistrarError::OwnServerId);
        }
        let handle = PoolHandle::new(pool_handle).map_err(|_| RegistrarError::InvalidPoolHandle)?;
        let c = Converted::new(pe).ok_or(RegistrarError::Unsupported)?;
        let reg = Registration {
            pool_handle: handle,
            pe_id: pe.pe_id,
            home_registrar: Some(owner),
            registration_life: pe.registration_life,
            user_transport: c.user(),
            policy: c.policy,
            asap_transport: c.asap(),
            assoc: AssocId::NONE,
        };
        let old = self.hs.lookup(&handle, pe.pe_id).map(|v| v.assoc());
        let outcome = self.hs_register(now, &reg, old)?;
        let r = outcome.pe();
        self.owned.swap_remove(&r);
        self.connects.swap_remove(&r);
        Ok(outcome)
    }

    /// Applies a peer's ENRP_HANDLE_UPDATE DEL_PE: removes the PE if `owner`
    /// owns it here; `false` if not (unknown PEs are ignored, RFC 5353 §3.3).
    pub fn apply_peer_delete(&mut self, owner: ServerId, pool_handle: &[u8], pe_id: PeId) -> bool {
        let Ok(handle) = PoolHandle::new(pool_handle) else {
            return false;
        };
        let Some(r) = self
            .hs
            .lookup(&handle, pe_id)
            .filter(|v| v.home_registrar() == Some(owner) && owner != self.config.server_id)
            .map(|v| v.pe_ref())
        else {
            return false;
        };
        self.owned.swap_remove(&r);
        self.connects.swap_remove(&r);
        self.hs_remove(r).is_ok()
    }

    /// ENRP takeover (RFC 5353 §3.5): makes this registrar the home of every
    /// PE `from` owned, and sends each a point-to-point ENDPOINT_KEEP_ALIVE
    /// with H=1 (as the transmit queue allows, through the keep-alive
    /// timers, due now): they have no association here yet, so one is
    /// opened to each PE's ASAP transport address first
    /// ([`Machine::poll_connect`] with [`Protocol::Asap`]); the keep-alive
    /// goes out on [`TransportEvent::Up`], and [`TransportEvent::ConnectFailed`]
    /// removes the PE ([`RemovalReason::TransportFailure`]). At most
    /// [`MAX_PE_CONNECTS`] connects are in flight; the other keep-alives wait
    /// [`PE_CONNECT_RETRY`] and try again. Their registration life restarts
    /// at `now`. Returns how many PEs moved; refused whole when the owned-PE
    /// table lacks room.
    pub fn take_over(&mut self, now: Instant, from: ServerId) -> Result<usize, RegistrarError> {
        let me = self.config.server_id;
        if from == me {
            return Ok(0);
        }
        let n = self.hs.owned_count(from);
        if self.owned.len() + n > OWNED {
            return Err(RegistrarError::OwnedTableFull);
        }
        let moved = self.hs.take_over(from, me);
        let mut cursor = OwnershipCursor::new(me);
        while let Some((r, life)) = self
            .hs
            .next_owned(&mut cursor)
            .map(|v| (v.pe_ref(), v.registration_life()))
        {
            if self.owned.contains_key(&r) {
                continue;
            }
            let state = OwnedPe::new(lifetime_deadline(now, life), true);
            if self.owned.insert(r, state).is_err() {
                break;
            }
            let _ = self
                .hs
                .set_timer(r, PeTimerKind::KeepAliveTransmission, now);
        }
        Ok(moved)
    }

    /// ENRP: keeps a PE this registrar owns over a live association when a
    /// peer with a lower server id announces it as its own (crossing
    /// registrations, see the [ENRP module documentation](super::enrp)): sends the
    /// PE an ENDPOINT_KEEP_ALIVE with H=1 over that association (the PE
    /// adopts this registrar as home, RFC 5352 §3.4; answered within the
    /// keep-alive timeout, or sent by the keep-alive timer when the transmit
    /// queue is full) and returns the PE for a HANDLE_UPDATE re-asserting
    /// the ownership. `None` (nothing done) when the PE is not owned here
    /// over an association.
    pub(super) fn keep_home(
        &mut self,
        now: Instant,
        pool_handle: &[u8],
        pe_id: PeId,
    ) -> Option<PeRecord> {
        let handle = PoolHandle::new(pool_handle).ok()?;
        let me = Some(self.config.server_id);
        let (r, assoc, record) = self
            .hs
            .lookup(&handle, pe_id)
            .filter(|v| v.home_registrar() == me && v.assoc() != AssocId::NONE)
            .map(|v| (v.pe_ref(), v.assoc(), PeRecord::from_view(&v)))?;
        if !self.owned.contains_key(&r) {
            return None;
        }
        if self.push_keep_alive(r, Destination::Association(assoc), true) {
            if let Some(o) = self.owned.get_mut(&r) {
                o.set_claim_home(false);
            }
            let at = now + self.config.keep_alive_timeout;
            self.set_owned_timer(r, PeTimerKind::KeepAliveTimeout, at);
        } else {
            if let Some(o) = self.owned.get_mut(&r) {
                o.set_claim_home(true);
            }
            self.set_owned_timer(r, PeTimerKind::KeepAliveTransmission, now);
        }
        Some(record)
    }
}
