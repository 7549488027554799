//! The invariant checker: every index and count of a handlespace against
//! a recomputation (for tests and fuzzing).

use super::*;

impl<B: Backend, S: Storage> Handlespace<B, S> {
    // ----- consistency --------------------------------------------------

    /// Checks every invariant: all trees (structure, order, counts, weight
    /// sums), that every PE is where its fields say, the owner table's counts
    /// and checksums against a recomputation, and the pool index. For tests.
    pub fn check(&self) -> Result<(), InvariantError> {
        let err = |rule, node| Err(InvariantError { rule, node });
        let pool_view = PoolView {
            pools: &self.pools,
            _root: PhantomData,
        };
        B::check(&self.pool_root, &pool_view)?;
        if B::len(&self.pool_root) != self.pools.len() {
            return err("pool tree count differs from pool arena", NIL);
        }
        let mut pes = 0usize;
        let mut with_owner = 0usize;
        let mut with_timer = 0usize;
        let mut p = B::first(&self.pool_root, &pool_view);
        while let Some(pool) = p {
            let rec = &self.pools[pool];
            if <S::PoolMap as PoolMap>::ENABLED && self.pool_map.get(&rec.handle) != Some(pool) {
                return err("pool index disagrees with pool tree", pool);
            }
            if self.find_pool(&rec.handle) != Some(pool) {
                return err("pool not found by its handle", pool);
            }
            sel_ref!(self, pool, check)?;
            let id_view = IdView { pes: &self.pes };
            B::check(&rec.id_root, &id_view)?;
            let len = B::len(&rec.id_root);
            if len == 0 {
                return err("empty pool kept", pool);
            }
            if B::len(&rec.sel_root) != len {
                return err("selection and id orders differ in size", pool);
            }
            let mut x = B::first(&rec.id_root, &id_view);
            while let Some(n) = x {
                let pe = &self.pes[n];
                if pe.pool != pool {
                    return err("PE in another pool's id order", n);
                }
                if self.find_pe(pool, pe.pe_id) != Some(n) {
                    return err("PE not found by its id", n);
                }
                if pe.policy.policy_type() != rec.policy_type {
                    return err("PE policy type differs from pool", n);
                }
                if pe.user.protocol() != rec.protocol
                    || pe.user.transport_use() != rec.transport_use
                {
                    return err("PE transport differs from pool", n);
                }
                if pe.home.is_some() {
                    with_owner += 1;
                }
                if pe.timer != 0 {
                    with_timer += 1;
                } else if pe.deadline != Instant::MAX {
                    return err("deadline without timer", n);
                }
                pes += 1;
                x = B::next(&rec.id_root, &id_view, n);
            }
            p = B::next(&self.pool_root, &pool_view, pool);
        }
        if pes != self.pes.len() {
            return err("PE count differs from PE arena", NIL);
        }
        if <S::PeMap as PeMap>::ENABLED && self.pe_map.len() != pes {
            return err("PE index size differs from PE count", NIL);
        }
        if self.check_timers()? != with_timer {
            return err("timer order count wrong", NIL);
        }
        B::check(&self.assoc_root, &AssocView { pes: &self.pes })?;
        if B::len(&self.assoc_root) != pes {
            return err("association order count wrong", NIL);
        }
        // Owner table against a recomputation from a walk of every PE.
        let mut total = 0usize;
        for e in self.owners.entries() {
            let mut acc = checksum::ChecksumAccumulator::new();
            let mut count = 0u32;
            let mut cursor = OwnershipCursor::new(e.owner);
            let mut walk = self.owned_by(e.owner);
            while let Some(pe) = self.next_owned(&mut cursor) {
                if walk.next().map(|w| w.n) != Some(pe.n) {
                    return err("owner iteration and cursor disagree", pe.n);
                }
                acc.add(pe.pool_handle().as_bytes(), pe.pe_id());
                count += 1;
            }
            if walk.next().is_some() {
                return err("owner iteration longer than cursor walk", NIL);
            }
            if count != e.count || count == 0 {
                return err("owner PE count wrong", NIL);
            }
            if acc.checksum() != e.checksum() {
                return err("owner checksum wrong", NIL);
            }
            total += count as usize;
        }
        if total != with_owner {
            return err("owner table misses an owner", NIL);
        }
        let mut widths = [0u32; MAX_TRANSPORT_ADDRESSES + 1];
        let extra: usize = {
            let mut sum = 0;
            let mut p = B::first(&self.pool_root, &pool_view);
            while let Some(pool) = p {
                for pe in (PoolInfo { hs: self, p: pool }).elements() {
                    let n = &self.pes[pe.n];
                    sum += n.user.records() + n.asap.records();
                    for t in [&n.user, &n.asap] {
                        if t.present() {
                            let mut chain = 0usize;
                            let mut a = t.more;
                            while a != NIL && chain <= MAX_TRANSPORT_ADDRESSES {
                                chain += 1;
                                a = self.addrs.get(a).map_or(NIL, |x| x.next);
                            }
                            if a != NIL || chain != t.records() {
                                return err("address chain length wrong", pe.n);
                            }
                            if let Some(w) = widths.get_mut(usize::from(t.count)) {
                                *w += 1;
                            }
                        }
                    }
                }
                p = B::next(&self.pool_root, &pool_view, pool);
            }
            sum
        };
        if extra != self.addrs.len() {
            return err("address storage count wrong", NIL);
        }
        if widths != self.widths {
            return err("transport width counts wrong", NIL);
        }
        Ok(())
    }
}
