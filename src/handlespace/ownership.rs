//! Ownership: the PEs each registrar owns (RFC 5353), walked in
//! (pool handle, PE id) order, counted and checksummed, and taken over.

use super::*;

impl<B: Backend, S: Storage> Handlespace<B, S> {
    // ----- ownership ----------------------------------------------------

    /// The next PE owned by `cursor.owner` after `cursor.last` (in (pool
    /// handle, PE id) order), advancing the cursor. Changes to the
    /// handlespace between calls are fine: the walk resumes after the last
    /// PE returned.
    pub fn next_owned(&self, cursor: &mut OwnershipCursor) -> Option<PeView<'_, B, S>> {
        let owner = Some(cursor.owner);
        let last = cursor.last;
        let view = OwnerView {
            pes: &self.pes,
            pools: &self.pools,
            _root: PhantomData,
        };
        let n = B::lower_bound(&self.owner_root, &view, |v, n| {
            let pe = &node::Access::get(&v.pes)[n];
            match pe.home.cmp(&owner) {
                Ordering::Equal => match &last {
                    None => Ordering::Greater,
                    Some((h, id)) => v.pools[pe.pool]
                        .handle
                        .as_bytes()
                        .cmp(h.as_bytes())
                        .then(pe.pe_id.cmp(id))
                        .then(Ordering::Less),
                },
                o => o,
            }
        })?;
        let pe = &self.pes[n];
        if pe.home != owner {
            return None;
        }
        cursor.last = Some((self.pools[pe.pool].handle, pe.pe_id));
        Some(PeView { hs: self, n })
    }

    /// Every PE owned by `owner`, in (pool handle, PE id) order. For paging
    /// across changes use [`next_owned`](Handlespace::next_owned) instead.
    pub fn owned_by(&self, owner: ServerId) -> OwnedBy<'_, B, S> {
        let view = OwnerView {
            pes: &self.pes,
            pools: &self.pools,
            _root: PhantomData,
        };
        let first = B::lower_bound(&self.owner_root, &view, |v, n| {
            node::Access::get(&v.pes)[n].home.cmp(&Some(owner))
        })
        .filter(|&n| self.pes[n].home == Some(owner));
        OwnedBy {
            hs: self,
            owner,
            next: first,
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
        loop {
            let view = OwnerView {
                pes: &self.pes,
                pools: &self.pools,
                _root: PhantomData,
            };
            let first = B::lower_bound(&self.owner_root, &view, |v, n| {
                node::Access::get(&v.pes)[n].home.cmp(&Some(from))
            });
            let Some(n) = first.filter(|&n| self.pes[n].home == Some(from)) else {
                break;
            };
            let mut root = self.owner_root;
            B::remove(&mut root, &mut self.owner_view(), n);
            self.pes[n].home = Some(to);
            B::insert(&mut root, &mut self.owner_view(), n);
            self.owner_root = root;
            moved += 1;
        }
        self.owners.transfer(from, to);
        if moved > 0 {
            net_debug!("handlespace: {} PEs taken over", moved);
        }
        moved
    }
}
