//! The handlespace operations: registration (RFC 5352 §3.1), removal,
//! handle resolution, associations and timers.

use super::*;

impl<B: Backend, S: Storage> Handlespace<B, S> {
    // ----- registration -------------------------------------------------

    /// Registers a new PE, or updates an existing one (same pool and PE id),
    /// with the checks of RFC 5352 §3.1 (SPEC §6).
    ///
    /// A new pool takes the policy type, user transport protocol and
    /// transport use of its first PE; later (re-)registrations must match
    /// them. The lifetime timer is armed at `now` + registration life
    /// (none for an infinite life). On any error nothing is changed.
    pub fn register(
        &mut self,
        now: Instant,
        reg: &Registration<'_>,
    ) -> Result<RegisterOutcome, HandlespaceError> {
        reg.user_transport
            .validate()
            .map_err(HandlespaceError::InvalidTransport)?;
        let mut extra = extra_addresses(&reg.user_transport);
        if let Some(a) = &reg.asap_transport {
            if a.validate().is_err() || a.protocol != TransportProtocol::Sctp {
                return Err(HandlespaceError::InvalidAsapTransport);
            }
            extra += extra_addresses(a);
        }
        if reg.registration_life < -1 {
            return Err(HandlespaceError::InvalidRegistrationLife(
                reg.registration_life,
            ));
        }
        match self.find_pool(&reg.pool_handle) {
            Some(pool) => {
                self.check_consistent(pool, reg)?;
                if let Some(n) = self.find_pe(pool, reg.pe_id) {
                    self.update_pe(now, n, reg, extra)?;
                    return Ok(RegisterOutcome::Updated(PeRef(n)));
                }
                self.check_room_for_new(extra, reg.home_registrar)?;
                Ok(RegisterOutcome::Added(self.add_pe(now, pool, reg)))
            }
            None => {
                if self.pools.free_slots() == 0 {
                    return Err(HandlespaceError::LackOfResources(Resource::Pools));
                }
                self.check_room_for_new(extra, reg.home_registrar)?;
                let pool = self.create_pool(reg);
                Ok(RegisterOutcome::Added(self.add_pe(now, pool, reg)))
            }
        }
    }

    fn check_consistent(
        &self,
        pool: NodeId,
        reg: &Registration<'_>,
    ) -> Result<(), HandlespaceError> {
        let p = &self.pools[pool];
        if p.policy_type != reg.policy.policy_type() {
            return Err(HandlespaceError::InconsistentPoolingPolicy {
                pool_policy_type: p.policy_type,
            });
        }
        if p.protocol != reg.user_transport.protocol {
            return Err(HandlespaceError::InconsistentTransportType {
                pool_protocol: p.protocol,
            });
        }
        if p.transport_use != reg.user_transport.transport_use {
            return Err(HandlespaceError::InconsistentDataControlConfiguration {
                pool_transport_use: p.transport_use,
            });
        }
        Ok(())
    }

    fn check_room_for_new(
        &self,
        extra: usize,
        home: Option<ServerId>,
    ) -> Result<(), HandlespaceError> {
        if self.pes.free_slots() == 0 {
            return Err(HandlespaceError::LackOfResources(Resource::PoolElements));
        }
        if self.addrs.free_slots() < extra {
            return Err(HandlespaceError::LackOfResources(Resource::Addresses));
        }
        if let Some(h) = home {
            if !self.owners.can_add(h) {
                return Err(HandlespaceError::LackOfResources(Resource::Owners));
            }
        }
        Ok(())
    }

    fn create_pool(&mut self, reg: &Registration<'_>) -> NodeId {
        let pool = PoolNode {
            handle: reg.pool_handle,
            link: Default::default(),
            sel_root: Default::default(),
            id_root: Default::default(),
            policy_type: reg.policy.policy_type(),
            handle_sum: checksum::pool_handle_sum(reg.pool_handle.as_bytes()),
            protocol: reg.user_transport.protocol,
            transport_use: reg.user_transport.transport_use,
            weighted: select::selection_kind(&reg.policy) == SelectionKind::Weighted,
        };
        let p = match self.pools.insert(pool) {
            Ok(p) => p,
            Err(_) => unreachable!("pool capacity checked"),
        };
        B::insert(
            &mut self.pool_root,
            &mut PoolView {
                pools: &mut self.pools,
                _root: PhantomData,
            },
            p,
        );
        self.pool_map.insert(reg.pool_handle, p);
        net_debug!("handlespace: new pool {}", reg.pool_handle);
        p
    }

    fn store_transport(&mut self, t: &TransportAddress<'_>) -> StoredTransport {
        // At most MAX_TRANSPORT_ADDRESSES (validated).
        if let Some(w) = self.widths.get_mut(t.addresses.len()) {
            *w += 1;
        }
        let (first_v4, v6, chained) = match t.addresses[0] {
            IpAddr::V4(a) => (a.octets(), false, &t.addresses[1..]),
            IpAddr::V6(_) => ([0; 4], true, t.addresses),
        };
        let mut more = NIL;
        for a in chained.iter().rev() {
            let (addr, v6) = PackedAddr::pack(a);
            more = match self.addrs.insert(ExtraAddress {
                addr,
                next: more,
                v6,
            }) {
                Ok(id) => id,
                Err(_) => unreachable!("address capacity checked"),
            };
        }
        let mut flags = F_PRESENT | node::proto_bits(t.protocol);
        if v6 {
            flags |= F_V6;
        }
        if t.transport_use == TransportUse::DataAndControl {
            flags |= F_CONTROL;
        }
        StoredTransport {
            first_v4,
            more,
            port: t.port,
            flags,
            // At most MAX_TRANSPORT_ADDRESSES (validated).
            count: t.addresses.len() as u8,
        }
    }

    /// Gives back the further addresses of a stored transport and forgets
    /// its width.
    fn free_transport(&mut self, t: &StoredTransport) {
        if !t.present() {
            return;
        }
        if let Some(w) = self.widths.get_mut(usize::from(t.count)) {
            *w = w.saturating_sub(1);
        }
        let mut n = t.more;
        while n != NIL {
            n = match self.addrs.remove(n) {
                Some(a) => a.next,
                None => NIL,
            };
        }
    }

    fn block_sum(&self, n: NodeId) -> u64 {
        let pe = &self.pes[n];
        checksum::pe_block_sum(self.pools[pe.pool].handle_sum, pe.pe_id)
    }

    fn add_pe(&mut self, now: Instant, pool: NodeId, reg: &Registration<'_>) -> PeRef {
        let seq = self.next_seq();
        let user = self.store_transport(&reg.user_transport);
        let asap = match &reg.asap_transport {
            Some(a) => self.store_transport(a),
            None => StoredTransport {
                more: NIL,
                ..Default::default()
            },
        };
        let mut state = select::initial_state(&reg.policy, seq);
        if let Some(first) = sel_ref!(self, pool, first) {
            select::align_to_pool(&reg.policy, &mut state, &self.pes[first].state);
        }
        let node = PeNode {
            links: Default::default(),
            sel_sum: 0,
            deadline: Instant::MAX,
            state,
            policy: reg.policy,
            pool,
            pe_id: reg.pe_id,
            home: reg.home_registrar,
            assoc: reg.assoc,
            life: reg.registration_life,
            service_code: reg.user_transport.service_code,
            user,
            asap,
            timer: 0,
            timer_stamp: 0,
            timer_prev: NIL,
            timer_next: NIL,
            timer_lane: 0,
            map_next: NIL,
        };
        let n = match self.pes.insert(node) {
            Ok(n) => n,
            Err(_) => unreachable!("PE capacity checked"),
        };
        sel_mut!(self, pool, insert, n);
        B::insert(
            &mut self.pools[pool].id_root,
            &mut IdView { pes: &mut self.pes },
            n,
        );
        self.pe_map.insert(&mut self.pes, n);
        B::insert(
            &mut self.assoc_root,
            &mut AssocView { pes: &mut self.pes },
            n,
        );
        if let Some(h) = reg.home_registrar {
            self.owner_link(n, h);
        }
        if let Some(deadline) = expiry(now, reg.registration_life) {
            self.timer_link(n, PeTimerKind::LifetimeExpiry, deadline);
        }
        PeRef(n)
    }

    fn owner_link(&mut self, n: NodeId, owner: ServerId) {
        let block = self.block_sum(n);
        if self.owners.add(owner, block).is_err() {
            unreachable!("owner capacity checked");
        }
    }

    fn owner_unlink(&mut self, n: NodeId, owner: ServerId) {
        let block = self.block_sum(n);
        self.owners.remove(owner, block);
    }

    fn timer_unlink(&mut self, n: NodeId) {
        if self.pes[n].timer != 0 {
            self.timer_remove(n);
            let pe = &mut self.pes[n];
            pe.timer = 0;
            pe.deadline = Instant::MAX;
        }
    }

    fn timer_link(&mut self, n: NodeId, kind: PeTimerKind, deadline: Instant) {
        self.timer_unlink(n);
        self.timer_stamp = self.timer_stamp.wrapping_add(1);
        let pe = &mut self.pes[n];
        pe.timer = kind.bits();
        pe.deadline = deadline;
        pe.timer_stamp = self.timer_stamp;
        self.timer_insert(n);
    }

    fn update_pe(
        &mut self,
        now: Instant,
        n: NodeId,
        reg: &Registration<'_>,
        extra: usize,
    ) -> Result<(), HandlespaceError> {
        let (pool, old_policy, old_state, old_home, old_assoc, old_user, old_asap) = {
            let pe = &self.pes[n];
            (
                pe.pool, pe.policy, pe.state, pe.home, pe.assoc, pe.user, pe.asap,
            )
        };
        let old_extra = old_user.records() + old_asap.records();
        if extra > old_extra && self.addrs.free_slots() < extra - old_extra {
            return Err(HandlespaceError::LackOfResources(Resource::Addresses));
        }
        if reg.home_registrar != old_home {
            if let Some(h) = reg.home_registrar {
                let frees_entry =
                    old_home.is_some_and(|o| self.owners.get(o).is_some_and(|e| e.count == 1));
                if !self.owners.can_add(h) && !frees_entry {
                    return Err(HandlespaceError::LackOfResources(Resource::Owners));
                }
            }
        }
        // Selection order: remove, change, re-insert (SPEC §15.19).
        let seq = self.next_seq();
        let mut state = select::reregistered_state(&reg.policy, &old_policy, &old_state, seq);
        if reg.policy != old_policy || state != old_state {
            sel_mut!(self, pool, remove, n);
            if let Some(first) = sel_ref!(self, pool, first) {
                select::align_to_pool(&reg.policy, &mut state, &self.pes[first].state);
            }
            let pe = &mut self.pes[n];
            pe.policy = reg.policy;
            pe.state = state;
            sel_mut!(self, pool, insert, n);
        }
        // Transports.
        self.free_transport(&old_user);
        self.free_transport(&old_asap);
        let user = self.store_transport(&reg.user_transport);
        let asap = match &reg.asap_transport {
            Some(a) => self.store_transport(a),
            None => StoredTransport {
                more: NIL,
                ..Default::default()
            },
        };
        {
            let pe = &mut self.pes[n];
            pe.user = user;
            pe.asap = asap;
            pe.service_code = reg.user_transport.service_code;
            pe.life = reg.registration_life;
        }
        // Owner.
        if reg.home_registrar != old_home {
            if let Some(o) = old_home {
                self.owner_unlink(n, o);
            }
            self.pes[n].home = reg.home_registrar;
            if let Some(h) = reg.home_registrar {
                self.owner_link(n, h);
            }
        }
        // Association.
        if reg.assoc != old_assoc {
            B::remove(
                &mut self.assoc_root,
                &mut AssocView { pes: &mut self.pes },
                n,
            );
            self.pes[n].assoc = reg.assoc;
            B::insert(
                &mut self.assoc_root,
                &mut AssocView { pes: &mut self.pes },
                n,
            );
        }
        // Lifetime.
        match expiry(now, reg.registration_life) {
            Some(deadline) => self.timer_link(n, PeTimerKind::LifetimeExpiry, deadline),
            None => self.timer_unlink(n),
        }
        Ok(())
    }

    // ----- removal ------------------------------------------------------

    /// Removes the PE `pe_id` of the pool `pool_handle` (and the pool if it
    /// was its last PE).
    pub fn deregister(
        &mut self,
        pool_handle: &PoolHandle,
        pe_id: PeId,
    ) -> Result<(), HandlespaceError> {
        let pool = self
            .find_pool(pool_handle)
            .ok_or(HandlespaceError::UnknownPoolHandle)?;
        let n = self
            .find_pe(pool, pe_id)
            .ok_or(HandlespaceError::UnknownPoolElement)?;
        self.remove_node(n);
        Ok(())
    }

    /// Removes a PE by reference.
    pub fn remove(&mut self, pe: PeRef) -> Result<(), HandlespaceError> {
        if self.pes.get(pe.0).is_none() {
            return Err(HandlespaceError::UnknownPoolElement);
        }
        self.remove_node(pe.0);
        Ok(())
    }

    fn remove_node(&mut self, n: NodeId) {
        let (pool, home, user, asap) = {
            let pe = &self.pes[n];
            (pe.pool, pe.home, pe.user, pe.asap)
        };
        self.pe_map.remove(&mut self.pes, n);
        sel_mut!(self, pool, remove, n);
        B::remove(
            &mut self.pools[pool].id_root,
            &mut IdView { pes: &mut self.pes },
            n,
        );
        B::remove(
            &mut self.assoc_root,
            &mut AssocView { pes: &mut self.pes },
            n,
        );
        self.timer_unlink(n);
        if let Some(h) = home {
            self.owner_unlink(n, h);
        }
        self.free_transport(&user);
        self.free_transport(&asap);
        self.pes.remove(n);
        if B::is_empty(&self.pools[pool].id_root) {
            B::remove(
                &mut self.pool_root,
                &mut PoolView {
                    pools: &mut self.pools,
                    _root: PhantomData,
                },
                pool,
            );
            if let Some(p) = self.pools.remove(pool) {
                self.pool_map.remove(&p.handle);
                net_debug!("handlespace: pool {} gone", p.handle);
            }
        }
    }

    /// Removes every PE and pool (in place: no large temporary for fixed
    /// storage). Sequence numbers keep counting.
    pub fn clear(&mut self) {
        self.pes.clear();
        self.pools.clear();
        self.addrs.clear();
        self.pool_map = Default::default();
        self.pe_map = Default::default();
        self.owners.clear();
        self.widths = [0; MAX_TRANSPORT_ADDRESSES + 1];
        self.pool_root = Default::default();
        self.timer_root = Default::default();
        self.lanes = [lanes::Lane::EMPTY; lanes::LANES];
        self.assoc_root = Default::default();
    }

    // ----- selection ----------------------------------------------------

    /// Handle resolution: picks up to `n` distinct PEs of the pool by its
    /// policy and writes them to `out` (at most `out.len()`), returning how
    /// many were written.
    ///
    /// Ordered policies give the first ones in policy order; weighted ones
    /// draw without replacement with probability proportional to weight,
    /// using `rng`. Then the first `max_increment` selected PEs have their
    /// policy state updated (remove, update, re-insert).
    pub fn resolve<R: Rng + ?Sized>(
        &mut self,
        pool_handle: &PoolHandle,
        n: usize,
        rng: &mut R,
        out: &mut [PeRef],
    ) -> Result<usize, HandlespaceError> {
        let pool = self
            .find_pool(pool_handle)
            .ok_or(HandlespaceError::UnknownPoolHandle)?;
        let want = n.min(out.len());
        // The successor of the first PE in the selection order, when the
        // walk below already found it.
        let mut second = None;
        let (got, first) = if self.pools[pool].weighted {
            let got = self.pick_weighted(pool, want, rng, out);
            (got, out.first().copied().unwrap_or_default())
        } else {
            let mut got = 0;
            let mut x = sel_ref!(self, pool, first);
            while got < want {
                let Some(node) = x else { break };
                out[got] = PeRef(node);
                got += 1;
                if got < want {
                    x = sel_ref!(self, pool, next, node);
                    if got == 1 {
                        second = Some(x);
                    }
                }
            }
            (got, out.first().copied().unwrap_or_default())
        };
        if got > 0 {
            let inc = select::max_increment(&self.pes[first.0].policy).min(got);
            for (i, r) in out[..inc].iter().enumerate() {
                // Only the first PE's successor is known (and only until a
                // selection moves a PE).
                let next = if i == 0 { second } else { None };
                self.selected(pool, r.0, next);
            }
        }
        Ok(got)
    }

    fn pick_weighted<R: Rng + ?Sized>(
        &mut self,
        pool: NodeId,
        want: usize,
        rng: &mut R,
        out: &mut [PeRef],
    ) -> usize {
        let total = sel_ref!(self, pool, total_weight);
        let mut got = 0;
        while got < want && total > 0 {
            // Draw with rejection of repeats (exactly the distribution
            // without replacement); after a few misses, fall back to drawing
            // from the tree with the chosen PEs taken out.
            let mut found = None;
            for _ in 0..8 {
                let point = below(rng, total);
                if let Some(x) = sel_ref!(self, pool, select_by_weight, point) {
                    if !out[..got].contains(&PeRef(x)) {
                        found = Some(x);
                        break;
                    }
                }
            }
            match found {
                Some(x) => {
                    out[got] = PeRef(x);
                    got += 1;
                }
                None => return self.pick_weighted_exact(pool, want, rng, out, got),
            }
        }
        got
    }

    fn pick_weighted_exact<R: Rng + ?Sized>(
        &mut self,
        pool: NodeId,
        want: usize,
        rng: &mut R,
        out: &mut [PeRef],
        mut got: usize,
    ) -> usize {
        for r in out[..got].iter() {
            sel_mut!(self, pool, remove, r.0);
        }
        while got < want {
            let total = sel_ref!(self, pool, total_weight);
            if total == 0 {
                break;
            }
            let point = below(rng, total);
            let Some(x) = sel_ref!(self, pool, select_by_weight, point) else {
                break;
            };
            sel_mut!(self, pool, remove, x);
            out[got] = PeRef(x);
            got += 1;
        }
        for r in out[..got].iter() {
            sel_mut!(self, pool, insert, r.0);
        }
        got
    }

    /// Applies a selection to PE `n`: a new state, and a new place in the
    /// selection order if its key moved past a neighbour. `next`, when
    /// given, is `n`'s successor in the selection order as it stands.
    fn selected(&mut self, pool: NodeId, n: NodeId, next: Option<Option<NodeId>>) {
        let seq = self.next_seq();
        let (policy, old) = {
            let pe = &self.pes[n];
            (pe.policy, pe.state)
        };
        let mut state = old;
        select::on_selected(&policy, &mut state, seq);
        if state == old {
            return;
        }
        // The node may stay where it is if it still sorts between its
        // neighbours. Selection normally moves the key later (a fresh
        // sequence number, more degradation, less WRR credit): then the
        // predecessor is still before it and only the successor is compared.
        let moved_later = select::compare(&policy, &old, &policy, &state) == Ordering::Less;
        let after_prev = moved_later
            || sel_ref!(self, pool, prev, n).is_none_or(|x| {
                let o = &self.pes[x];
                select::compare(&o.policy, &o.state, &policy, &state) == Ordering::Less
            });
        let stays = after_prev
            && next
                .unwrap_or_else(|| sel_ref!(self, pool, next, n))
                .is_none_or(|x| {
                    let o = &self.pes[x];
                    select::compare(&policy, &state, &o.policy, &o.state) == Ordering::Less
                });
        if stays {
            let weighted = self.pools[pool].weighted;
            let reweigh =
                weighted && select::weight(&policy, &state) != select::weight(&policy, &old);
            self.pes[n].state = state;
            if reweigh {
                sel_mut!(self, pool, reweigh, n);
            }
        } else {
            sel_mut!(self, pool, remove, n);
            self.pes[n].state = state;
            sel_mut!(self, pool, insert, n);
        }
    }
}

impl<B: Backend, S: Storage> Handlespace<B, S> {
    // ----- associations -------------------------------------------------

    fn first_of_assoc(&self, assoc: AssocId) -> Option<NodeId> {
        let n = B::lower_bound(&self.assoc_root, &AssocView { pes: &self.pes }, |v, n| {
            node::Access::get(&v.pes)[n].assoc.cmp(&assoc)
        })?;
        (self.pes[n].assoc == assoc).then_some(n)
    }

    /// The PEs registered over `assoc`.
    pub fn by_association(&self, assoc: AssocId) -> ByAssociation<'_, B, S> {
        ByAssociation {
            hs: self,
            assoc,
            next: self.first_of_assoc(assoc),
        }
    }

    /// Removes every PE registered over `assoc`, calling `f` with each just
    /// before it goes; returns how many were removed.
    pub fn remove_by_association_with<F>(&mut self, assoc: AssocId, mut f: F) -> usize
    where
        F: FnMut(PeView<'_, B, S>),
    {
        let mut count = 0;
        while let Some(n) = self.first_of_assoc(assoc) {
            f(PeView { hs: self, n });
            self.remove_node(n);
            count += 1;
        }
        count
    }

    /// Removes every PE registered over `assoc`; returns how many.
    pub fn remove_by_association(&mut self, assoc: AssocId) -> usize {
        self.remove_by_association_with(assoc, |_| {})
    }

    // ----- timers -------------------------------------------------------

    /// Sets (or replaces) the timer of a PE.
    pub fn set_timer(
        &mut self,
        pe: PeRef,
        kind: PeTimerKind,
        deadline: Instant,
    ) -> Result<(), HandlespaceError> {
        if self.pes.get(pe.0).is_none() {
            return Err(HandlespaceError::UnknownPoolElement);
        }
        self.timer_link(pe.0, kind, deadline);
        Ok(())
    }

    /// Cancels the timer of a PE; `false` if it had none.
    pub fn cancel_timer(&mut self, pe: PeRef) -> bool {
        match self.pes.get(pe.0) {
            Some(p) if p.timer != 0 => {
                self.timer_unlink(pe.0);
                true
            }
            _ => false,
        }
    }

    /// The timer of a PE.
    pub fn timer(&self, pe: PeRef) -> Option<(PeTimerKind, Instant)> {
        let p = self.pes.get(pe.0)?;
        PeTimerKind::from_bits(p.timer).map(|k| (k, p.deadline))
    }

    /// The earliest deadline of any PE timer.
    pub fn next_timer(&self) -> Option<Instant> {
        self.first_timer().map(|n| self.pes[n].deadline)
    }

    /// Takes the earliest timer if it is due at `now` (the PE stays).
    pub fn pop_due_timer(&mut self, now: Instant) -> Option<(PeRef, PeTimerKind)> {
        let n = self.first_timer()?;
        let pe = &self.pes[n];
        if pe.deadline > now {
            return None;
        }
        let kind = PeTimerKind::from_bits(pe.timer)?;
        self.timer_unlink(n);
        Some((PeRef(n), kind))
    }

    /// Removes every PE whose lifetime timer is due at `now`, in one pass
    /// over the timer order, calling `f` with each just before it goes;
    /// returns how many were removed. Other due timers are left alone.
    pub fn purge_expired_with<F>(&mut self, now: Instant, mut f: F) -> usize
    where
        F: FnMut(PeView<'_, B, S>),
    {
        let mut count = 0;
        let mut walk = self.timer_walk();
        while let Some(n) = self.timer_walk_next(&mut walk) {
            let pe = &self.pes[n];
            if pe.deadline > now {
                break;
            }
            if pe.timer == PeTimerKind::LifetimeExpiry.bits() {
                f(PeView { hs: self, n });
                self.remove_node(n);
                count += 1;
            }
        }
        count
    }

    /// Removes every PE whose lifetime timer is due at `now`; returns how many.
    pub fn purge_expired(&mut self, now: Instant) -> usize {
        self.purge_expired_with(now, |_| {})
    }
}

impl<B: Backend, S: Storage> TimerIndex for Handlespace<B, S> {
    type Key = (PeRef, PeTimerKind);
    type Error = HandlespaceError;

    fn schedule(&mut self, key: Self::Key, deadline: Instant) -> Result<(), HandlespaceError> {
        self.set_timer(key.0, key.1, deadline)
    }
    fn cancel(&mut self, key: &Self::Key) -> bool {
        self.timer(key.0).is_some_and(|(k, _)| k == key.1) && self.cancel_timer(key.0)
    }
    fn next_deadline(&self) -> Option<Instant> {
        self.next_timer()
    }
    fn pop_due(&mut self, now: Instant) -> Option<(Self::Key, Instant)> {
        let n = self.first_timer()?;
        let deadline = self.pes[n].deadline;
        let (pe, kind) = self.pop_due_timer(now)?;
        Some(((pe, kind), deadline))
    }
}
