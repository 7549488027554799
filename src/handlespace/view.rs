//! Read-only views of PEs and pools, and the iterators over pools, their
//! elements, their selection order, an owner's PEs and an association's
//! PEs.

use super::*;

impl<B: Backend, S: Storage> Handlespace<B, S> {
    // ----- lookup and iteration ------------------------------------------

    /// The PE `pe_id` of the pool `pool_handle`.
    pub fn lookup(&self, pool_handle: &PoolHandle, pe_id: PeId) -> Option<PeView<'_, B, S>> {
        let pool = self.find_pool(pool_handle)?;
        let n = self.find_pe(pool, pe_id)?;
        Some(PeView { hs: self, n })
    }

    /// The PE behind a reference, if it still exists.
    pub fn get(&self, pe: PeRef) -> Option<PeView<'_, B, S>> {
        self.pes.get(pe.0).map(|_| PeView { hs: self, n: pe.0 })
    }

    /// The pool with this handle.
    pub fn pool(&self, pool_handle: &PoolHandle) -> Option<PoolInfo<'_, B, S>> {
        self.find_pool(pool_handle)
            .map(|p| PoolInfo { hs: self, p })
    }

    /// Every pool, in pool handle byte order.
    pub fn pools(&self) -> Pools<'_, B, S> {
        let view = PoolView {
            pools: &self.pools,
            _root: PhantomData,
        };
        Pools {
            hs: self,
            next: B::first(&self.pool_root, &view),
        }
    }
}

impl<B: Backend, S: Storage> Handlespace<B, S> {
    /// The pools whose handle is `from` or after it, in pool handle byte
    /// order: where a paged walk left off, found in O(log n).
    pub fn pools_from(&self, from: &PoolHandle) -> Pools<'_, B, S> {
        let view = PoolView {
            pools: &self.pools,
            _root: PhantomData,
        };
        let next = B::lower_bound(&self.pool_root, &view, |v, n| {
            node::Access::get(&v.pools)[n]
                .handle
                .as_bytes()
                .cmp(from.as_bytes())
        });
        Pools { hs: self, next }
    }
}

/// A read-only view of one pool element.
pub struct PeView<'a, B: Backend, S: Storage> {
    pub(super) hs: &'a Handlespace<B, S>,
    pub(super) n: NodeId,
}

impl<B: Backend, S: Storage> Clone for PeView<'_, B, S> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<B: Backend, S: Storage> Copy for PeView<'_, B, S> {}

impl<B: Backend, S: Storage> fmt::Debug for PeView<'_, B, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeView")
            .field("pool", &self.pool_handle())
            .field("pe_id", &self.pe_id())
            .field("home", &self.home_registrar())
            .field("policy", &self.policy())
            .finish()
    }
}

/// The addresses of a stored transport.
pub struct Addresses<'a, B: Backend, S: Storage> {
    pub(super) hs: &'a Handlespace<B, S>,
    pub(super) first: Option<IpAddr>,
    pub(super) next: NodeId,
}

impl<B: Backend, S: Storage> Iterator for Addresses<'_, B, S> {
    type Item = IpAddr;
    fn next(&mut self) -> Option<IpAddr> {
        if let Some(a) = self.first.take() {
            return Some(a);
        }
        let e = self.hs.addrs.get(self.next)?;
        self.next = e.next;
        Some(e.addr.unpack(e.v6))
    }
}

impl<'a, B: Backend, S: Storage> PeView<'a, B, S> {
    fn node(&self) -> &'a PeNode<B::Link> {
        &self.hs.pes[self.n]
    }
    /// The reference to this PE.
    pub fn pe_ref(&self) -> PeRef {
        PeRef(self.n)
    }
    /// The pool's handle.
    pub fn pool_handle(&self) -> &'a PoolHandle {
        &self.hs.pools[self.node().pool].handle
    }
    /// The PE id.
    pub fn pe_id(&self) -> PeId {
        self.node().pe_id
    }
    /// The home registrar (owner).
    pub fn home_registrar(&self) -> Option<ServerId> {
        self.node().home
    }
    /// The registration life in milliseconds (-1 = infinite).
    pub fn registration_life(&self) -> i32 {
        self.node().life
    }
    /// The policy and its parameters as registered.
    pub fn policy(&self) -> Policy {
        self.node().policy
    }
    /// The policy state (sequence number, counters).
    pub fn policy_state(&self) -> PolicyState {
        self.node().state
    }
    /// The association it registered over.
    pub fn assoc(&self) -> AssocId {
        self.node().assoc
    }
    /// Its timer.
    pub fn timer(&self) -> Option<(PeTimerKind, Instant)> {
        self.hs.timer(PeRef(self.n))
    }
    fn addresses_of(&self, t: &StoredTransport) -> Addresses<'a, B, S> {
        Addresses {
            hs: self.hs,
            first: t.inline_first(),
            next: t.more,
        }
    }
    /// The user transport's addresses.
    pub fn user_addresses(&self) -> Addresses<'a, B, S> {
        self.addresses_of(&self.node().user)
    }
    /// The ASAP transport's addresses (none if it has no ASAP transport).
    pub fn asap_addresses(&self) -> Addresses<'a, B, S> {
        self.addresses_of(&self.node().asap)
    }
    fn transport<'b>(
        &self,
        t: &StoredTransport,
        service_code: u32,
        buf: &'b mut [IpAddr],
    ) -> TransportAddress<'b> {
        let mut len = 0;
        for (slot, a) in buf.iter_mut().zip(self.addresses_of(t)) {
            *slot = a;
            len += 1;
        }
        TransportAddress {
            protocol: t.protocol(),
            port: t.port,
            transport_use: t.transport_use(),
            service_code,
            addresses: &buf[..len],
        }
    }
    /// The user transport, with its addresses copied into `buf`.
    pub fn user_transport<'b>(
        &self,
        buf: &'b mut [IpAddr; MAX_TRANSPORT_ADDRESSES],
    ) -> TransportAddress<'b> {
        let n = self.node();
        self.transport(&n.user, n.service_code, buf)
    }
    /// The ASAP transport, with its addresses copied into `buf`.
    pub fn asap_transport<'b>(
        &self,
        buf: &'b mut [IpAddr; MAX_TRANSPORT_ADDRESSES],
    ) -> Option<TransportAddress<'b>> {
        let n = self.node();
        n.asap.present().then(|| self.transport(&n.asap, 0, buf))
    }
    /// The user and ASAP transports as [`user_transport`](Self::user_transport)
    /// and [`asap_transport`](Self::asap_transport) give them, with their
    /// addresses copied into buffers shorter than
    /// [`MAX_TRANSPORT_ADDRESSES`]; `None` when either transport has more
    /// addresses than its buffer holds.
    pub(crate) fn transports_in<'b, 'c>(
        &self,
        user: &'b mut [IpAddr],
        asap: &'c mut [IpAddr],
    ) -> Option<(TransportAddress<'b>, Option<TransportAddress<'c>>)> {
        let n = self.node();
        if usize::from(n.user.count) > user.len()
            || (n.asap.present() && usize::from(n.asap.count) > asap.len())
        {
            return None;
        }
        let u = self.transport(&n.user, n.service_code, user);
        let a = n.asap.present().then(|| self.transport(&n.asap, 0, asap));
        Some((u, a))
    }
}

/// A read-only view of one pool.
pub struct PoolInfo<'a, B: Backend, S: Storage> {
    pub(super) hs: &'a Handlespace<B, S>,
    pub(super) p: NodeId,
}

impl<'a, B: Backend, S: Storage> PoolInfo<'a, B, S> {
    fn node(&self) -> &'a PoolNode<B::Link, B::Root> {
        &self.hs.pools[self.p]
    }
    /// The pool handle.
    pub fn handle(&self) -> &'a PoolHandle {
        &self.node().handle
    }
    /// The overall policy type (from its first PE).
    pub fn policy_type(&self) -> u32 {
        self.node().policy_type
    }
    /// The user transport protocol of its PEs.
    pub fn transport_protocol(&self) -> TransportProtocol {
        self.node().protocol
    }
    /// The transport use of its PEs.
    pub fn transport_use(&self) -> TransportUse {
        self.node().transport_use
    }
    /// The number of PEs.
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        B::len(&self.node().id_root)
    }
    /// The PEs in PE id order.
    pub fn elements(&self) -> PoolElements<'a, B, S> {
        PoolElements {
            hs: self.hs,
            p: self.p,
            next: B::first(&self.node().id_root, &IdView { pes: &self.hs.pes }),
        }
    }
    /// The PEs with an id above `after`, in PE id order: where a paged walk
    /// left off, found in O(log n) (not by walking the PEs before it).
    pub fn elements_after(&self, after: PeId) -> PoolElements<'a, B, S> {
        let view = IdView { pes: &self.hs.pes };
        // The first PE whose id is above `after`: those at or below it come
        // before the key.
        let next = B::lower_bound(&self.node().id_root, &view, |v, n| {
            if node::Access::get(&v.pes)[n].pe_id <= after {
                Ordering::Less
            } else {
                Ordering::Greater
            }
        });
        PoolElements {
            hs: self.hs,
            p: self.p,
            next,
        }
    }
    /// The PEs in selection order (ordered policies: the order in which
    /// they would be chosen).
    pub fn selection_order(&self) -> SelectionOrder<'a, B, S> {
        let hs = self.hs;
        SelectionOrder {
            hs,
            p: self.p,
            next: sel_ref!(hs, self.p, first),
        }
    }
}

/// The PEs of a pool in id order.
pub struct PoolElements<'a, B: Backend, S: Storage> {
    pub(super) hs: &'a Handlespace<B, S>,
    pub(super) p: NodeId,
    pub(super) next: Option<NodeId>,
}

impl<'a, B: Backend, S: Storage> Iterator for PoolElements<'a, B, S> {
    type Item = PeView<'a, B, S>;
    fn next(&mut self) -> Option<Self::Item> {
        let n = self.next?;
        let hs = self.hs;
        self.next = B::next(&hs.pools[self.p].id_root, &IdView { pes: &hs.pes }, n);
        Some(PeView { hs, n })
    }
}

/// The PEs of a pool in selection order.
pub struct SelectionOrder<'a, B: Backend, S: Storage> {
    pub(super) hs: &'a Handlespace<B, S>,
    pub(super) p: NodeId,
    pub(super) next: Option<NodeId>,
}

impl<'a, B: Backend, S: Storage> Iterator for SelectionOrder<'a, B, S> {
    type Item = PeView<'a, B, S>;
    fn next(&mut self) -> Option<Self::Item> {
        let n = self.next?;
        let hs = self.hs;
        self.next = sel_ref!(hs, self.p, next, n);
        Some(PeView { hs, n })
    }
}

/// Every pool, in handle order.
pub struct Pools<'a, B: Backend, S: Storage> {
    pub(super) hs: &'a Handlespace<B, S>,
    pub(super) next: Option<NodeId>,
}

impl<'a, B: Backend, S: Storage> Iterator for Pools<'a, B, S> {
    type Item = PoolInfo<'a, B, S>;
    fn next(&mut self) -> Option<Self::Item> {
        let p = self.next?;
        let hs = self.hs;
        let view = PoolView {
            pools: &hs.pools,
            _root: PhantomData,
        };
        self.next = B::next(&hs.pool_root, &view, p);
        Some(PoolInfo { hs, p })
    }
}

/// The PEs owned by one registrar.
pub struct OwnedBy<'a, B: Backend, S: Storage> {
    pub(super) hs: &'a Handlespace<B, S>,
    pub(super) owner: ServerId,
    pub(super) next: Option<NodeId>,
}

impl<'a, B: Backend, S: Storage> Iterator for OwnedBy<'a, B, S> {
    type Item = PeView<'a, B, S>;
    fn next(&mut self) -> Option<Self::Item> {
        let n = self.next?;
        let hs = self.hs;
        self.next = hs.owned_from(self.owner, hs.pe_following(n));
        Some(PeView { hs, n })
    }
}

/// The PEs registered over one association.
pub struct ByAssociation<'a, B: Backend, S: Storage> {
    pub(super) hs: &'a Handlespace<B, S>,
    pub(super) assoc: AssocId,
    pub(super) next: Option<NodeId>,
}

impl<'a, B: Backend, S: Storage> Iterator for ByAssociation<'a, B, S> {
    type Item = PeView<'a, B, S>;
    fn next(&mut self) -> Option<Self::Item> {
        let n = self.next?;
        let hs = self.hs;
        self.next = B::next(&hs.assoc_root, &AssocView { pes: &hs.pes }, n)
            .filter(|&x| hs.pes[x].assoc == self.assoc);
        Some(PeView { hs, n })
    }
}
