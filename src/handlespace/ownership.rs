//! Ownership: the PEs each registrar owns (RFC 5353), walked in
//! (pool handle, PE id) order, counted and checksummed, and taken over.

use super::*;

impl<B: Backend, S: Storage> Handlespace<B, S> {
    // ----- ownership ----------------------------------------------------

    /// The first PE after `last` in (pool handle, PE id) order over all
    /// pools, or the very first with `None`: one descent of the pool order
    /// and one of that pool's id order.
    pub(super) fn pe_after(&self, last: Option<(&PoolHandle, PeId)>) -> Option<NodeId> {
        let pools = PoolView {
            pools: &self.pools,
            _root: PhantomData,
        };
        let ids = IdView { pes: &self.pes };
        let (mut pool, mut after) = match last {
            None => (B::first(&self.pool_root, &pools)?, None),
            Some((h, id)) => {
                let p = B::lower_bound(&self.pool_root, &pools, |v, n| {
                    node::Access::get(&v.pools)[n]
                        .handle
                        .as_bytes()
                        .cmp(h.as_bytes())
                })?;
                (p, (self.pools[p].handle == *h).then_some(id))
            }
        };
        loop {
            let root = &self.pools[pool].id_root;
            let n = match after {
                None => B::first(root, &ids),
                Some(id) => B::lower_bound(root, &ids, |v, n| {
                    node::Access::get(&v.pes)[n]
                        .pe_id
                        .cmp(&id)
                        .then(Ordering::Less)
                }),
            };
            if n.is_some() {
                return n;
            }
            pool = B::next(&self.pool_root, &pools, pool)?;
            after = None;
        }
    }

    /// The PE after `n` in (pool handle, PE id) order over all pools.
    pub(super) fn pe_following(&self, n: NodeId) -> Option<NodeId> {
        let pool = self.pes[n].pool;
        let ids = IdView { pes: &self.pes };
        if let Some(x) = B::next(&self.pools[pool].id_root, &ids, n) {
            return Some(x);
        }
        let pools = PoolView {
            pools: &self.pools,
            _root: PhantomData,
        };
        // Pools are never empty: the next pool has a first PE.
        let next = B::next(&self.pool_root, &pools, pool)?;
        B::first(&self.pools[next].id_root, &ids)
    }

    /// The first PE owned by `owner` at or after `n` in (pool handle, PE
    /// id) order.
    pub(super) fn owned_from(&self, owner: ServerId, mut n: Option<NodeId>) -> Option<NodeId> {
        while let Some(x) = n {
            if self.pes[x].home == Some(owner) {
                return Some(x);
            }
            n = self.pe_following(x);
        }
        None
    }

    /// The next PE of any owner after `last` in (pool handle, PE id) order,
    /// or the first with `None`, advancing `last`: a walk through every PE
    /// that resumes after the last PE returned, so the handlespace may
    /// change between calls. O(log n) a call.
    pub fn next_pe(&self, last: &mut Option<(PoolHandle, PeId)>) -> Option<PeView<'_, B, S>> {
        let n = self.pe_after(last.as_ref().map(|(h, id)| (h, *id)))?;
        let pe = &self.pes[n];
        *last = Some((self.pools[pe.pool].handle, pe.pe_id));
        Some(PeView { hs: self, n })
    }

    /// The next PE owned by `cursor.owner` after `cursor.last` (in (pool
    /// handle, PE id) order), advancing the cursor. Changes to the
    /// handlespace between calls are fine: the walk resumes after the last
    /// PE returned.
    ///
    /// There is no ownership index to keep on every registration: the walk
    /// goes through the pools' id orders and passes over the PEs of other
    /// owners, so a whole walk costs O(n) for n PEs in the handlespace
    /// (O(log n) to resume, and nothing at all for an owner of no PE).
    pub fn next_owned(&self, cursor: &mut OwnershipCursor) -> Option<PeView<'_, B, S>> {
        let owner = cursor.owner;
        if self.owned_count(owner) == 0 {
            return None;
        }
        let start = self.pe_after(cursor.last.as_ref().map(|(h, id)| (h, *id)));
        let n = self.owned_from(owner, start)?;
        let pe = &self.pes[n];
        cursor.last = Some((self.pools[pe.pool].handle, pe.pe_id));
        Some(PeView { hs: self, n })
    }

    /// Every PE owned by `owner`, in (pool handle, PE id) order. For paging
    /// across changes use [`next_owned`](Handlespace::next_owned) instead.
    pub fn owned_by(&self, owner: ServerId) -> OwnedBy<'_, B, S> {
        let next = if self.owned_count(owner) == 0 {
            None
        } else {
            self.owned_from(owner, self.pe_after(None))
        };
        OwnedBy {
            hs: self,
            owner,
            next,
        }
    }

    /// The number of PEs owned by `owner`.
    pub fn owned_count(&self, owner: ServerId) -> usize {
        self.owners.get(owner).map_or(0, |e| e.count as usize)
    }

    /// The PE checksum (RFC 5353 §3.6.2) over the PEs owned by `owner`
    /// (0xFFFF when it owns none).
    pub fn owner_checksum(&self, owner: ServerId) -> u16 {
        self.owners
            .get(owner)
            .map_or(checksum::finish(0), |e| e.checksum())
    }

    /// Every owner with its PE count and checksum.
    pub fn owners(&self) -> &[OwnerEntry] {
        self.owners.entries()
    }

    /// Makes `to` the home registrar of every PE owned by `from` (ENRP
    /// takeover); returns how many PEs moved. The checksum moves along.
    pub fn take_over(&mut self, from: ServerId, to: ServerId) -> usize {
        if from == to {
            return self.owned_count(from);
        }
        let mut moved = 0;
        if self.owned_count(from) > 0 {
            let mut x = self.owned_from(from, self.pe_after(None));
            while let Some(n) = x {
                // Only the home changes: the walk's orders stay as they are.
                self.pes[n].home = Some(to);
                moved += 1;
                x = self.owned_from(from, self.pe_following(n));
            }
        }
        self.owners.transfer(from, to);
        if moved > 0 {
            net_debug!("handlespace: {} PEs taken over", moved);
        }
        moved
    }
}
