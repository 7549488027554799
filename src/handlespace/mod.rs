//! The handlespace: pools keyed by pool handle, pool elements keyed by
//! (pool, PE id), selection by policy, ownership, timers and checksums.
//!
//! A [`Handlespace`] is generic over the index algorithm `B` (a
//! [`Backend`]: red-black tree, treap, or sorted list) and over its storage
//! `S` ([`Fixed`] capacities without heap, or [`Growable`] arenas with
//! `alloc`). Every PE is one record in a PE arena, linked into five orders:
//! its pool's selection order (with subtree weight sums for the random
//! policies), its pool's PE id order, the global timer order, the ownership
//! order (owner registrar, pool handle, PE id) and the association order.
//! Every operation but iteration is O(log n).
//!
//! Capacity is explicit: a registration that does not fit is refused with
//! [`HandlespaceError::LackOfResources`] and leaves the handlespace exactly
//! as it was.
//!
//! # Storage and memory
//!
//! A PE record ([`PeNode`]) is 200 bytes with either tree backend: five
//! 12-byte links, the policy and its [`PolicyState`], the registration
//! fields, and both transports with their first address inline (further
//! addresses of multi-homed transports, up to
//! [`MAX_TRANSPORT_ADDRESSES`] a transport, are chained in a separate
//! address arena of 24-byte records shared by all PEs, so the record does
//! not grow with the limit; with [`Fixed`] storage its capacity is `ADDRS`,
//! and a registration whose addresses do not fit is refused with
//! [`Resource::Addresses`]). Only the selection order keeps a subtree
//! weight sum. A pool is
//! stored once, with its handle, its overall policy type and transport, and
//! the roots of its two orders.
//!
//! * [`Fixed`] storage: fixed-capacity arenas (no heap); pools are found in
//!   the pool tree and PEs in their pool's id order, both O(log n).
//! * [`Growable`] storage (`alloc`): arenas that grow in chunks of
//!   [`CHUNK_SLOTS`] records, plus hash
//!   indexes from pool handle to pool and from (pool, PE id) to PE, so that
//!   registration, re-registration, deregistration and lookup need no tree
//!   descent to find their PE. About 218 bytes per PE in all at 100,000 PEs.
//!
//! # Orders
//!
//! | Order | Key | Used by |
//! |---|---|---|
//! | selection (per pool) | [`Policy::compare`], weight sums for weighted policies | [`resolve`](Handlespace::resolve) |
//! | id (per pool) | PE id | lookup, [`PoolInfo::elements`] |
//! | timer | deadline, then the order timers were set | [`next_timer`](Handlespace::next_timer), [`purge_expired`](Handlespace::purge_expired) |
//! | ownership | home registrar, pool handle bytes, PE id | [`next_owned`](Handlespace::next_owned), [`take_over`](Handlespace::take_over), checksums |
//! | association | association, then record | [`remove_by_association`](Handlespace::remove_by_association) |
//!
//! A selection changes the selected PE's policy state once (RFC 5356; not
//! twice as rsplib, SPEC §15.18). A PE whose state or policy changes is
//! taken out of its selection order, changed and put back (SPEC §15.19);
//! after a selection it is left in place when it still sorts between its
//! neighbours.
//!
//! # Checksums
//!
//! Each owner's PE checksum (RFC 5353 §3.6.2) is kept incrementally as the
//! plain sum of its PEs' 16-bit words in a `u64` (exact, so removal always
//! undoes addition), folded and complemented only when read; see
//! [`checksum`].
//!
#![cfg_attr(
    feature = "alloc",
    doc = "[`CHUNK_SLOTS`]: crate::storage::arena::CHUNK_SLOTS"
)]
// Without `alloc` the growable storage is not there: the links go to the
// crate's feature list.
#![cfg_attr(
    not(feature = "alloc"),
    doc = "[`Growable`]: crate#features\n\n[`CHUNK_SLOTS`]: crate#features"
)]

use core::cmp::Ordering;
use core::fmt;
use core::marker::PhantomData;
use core::net::IpAddr;

use crate::addr::{
    TransportAddress, TransportError, TransportProtocol, TransportUse, MAX_TRANSPORT_ADDRESSES,
};
use crate::cause::CauseCode;
use crate::id::{AssocId, PeId, PoolHandle, ServerId};
use crate::policy::Policy;
use crate::storage::arena::Arena;
use crate::storage::{Backend, InvariantError, NodeId, NIL};
use crate::time::{Duration, Instant};
use crate::timer::TimerIndex;

pub mod checksum;
mod node;
pub mod random;
mod select;
pub mod store;

pub use node::{ExtraAddress, PeNode, PoolNode};
pub use random::{RandomSource, Xoshiro256StarStar};
pub use select::PolicyState;
#[cfg(feature = "alloc")]
pub use store::Growable;
pub use store::{Fixed, OwnerEntry, OwnerTable, Owners, PeMap, PoolMap, Storage};

use node::{
    AssocView, IdView, OwnerView, PackedAddr, PoolView, SelView, StoredTransport, TimerView,
    F_CONTROL, F_PRESENT, F_V6,
};
use select::SelectionKind;

/// A handlespace with fixed capacities and no heap.
pub type FixedHandlespace<
    B,
    const PES: usize,
    const POOLS: usize,
    const ADDRS: usize,
    const OWNERS: usize,
> = Handlespace<B, Fixed<PES, POOLS, ADDRS, OWNERS>>;

/// A handlespace on the heap that grows with its content (feature `alloc`).
#[cfg(feature = "alloc")]
pub type GrowableHandlespace<B> = Handlespace<B, Growable>;

/// A reference to a pool element, valid until the PE is removed.
///
/// Using a reference after its PE was removed is a caller bug: lookups
/// through it return `None` (or a different PE if the slot was reused).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeRef(NodeId);

impl PeRef {
    /// The arena index behind the reference.
    pub const fn index(self) -> NodeId {
        self.0
    }
}

impl Default for PeRef {
    fn default() -> Self {
        PeRef(NIL)
    }
}

/// What a PE's timer is for (rsplib's PE timer codes 1000-1002).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum PeTimerKind {
    /// The registration lifetime runs out: remove the PE.
    LifetimeExpiry,
    /// Time to send the PE an ASAP_ENDPOINT_KEEP_ALIVE.
    KeepAliveTransmission,
    /// The PE did not answer a keep-alive in time.
    KeepAliveTimeout,
}

impl PeTimerKind {
    /// rsplib's code for the timer.
    pub const fn code(self) -> u16 {
        match self {
            PeTimerKind::LifetimeExpiry => 1000,
            PeTimerKind::KeepAliveTransmission => 1001,
            PeTimerKind::KeepAliveTimeout => 1002,
        }
    }
    const fn bits(self) -> u8 {
        match self {
            PeTimerKind::LifetimeExpiry => 1,
            PeTimerKind::KeepAliveTransmission => 2,
            PeTimerKind::KeepAliveTimeout => 3,
        }
    }
    const fn from_bits(b: u8) -> Option<Self> {
        match b {
            1 => Some(PeTimerKind::LifetimeExpiry),
            2 => Some(PeTimerKind::KeepAliveTransmission),
            3 => Some(PeTimerKind::KeepAliveTimeout),
            _ => None,
        }
    }
}

/// A registration (or re-registration) of a pool element, as carried in an
/// ASAP_REGISTRATION or an ENRP_HANDLE_UPDATE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Registration<'a> {
    /// The pool.
    pub pool_handle: PoolHandle,
    /// The PE's identifier within the pool.
    pub pe_id: PeId,
    /// The PE's home registrar (its owner), if known.
    pub home_registrar: Option<ServerId>,
    /// Registration life in milliseconds (as rsplib and Wireshark, SPEC
    /// §15.1); -1 is infinite.
    pub registration_life: i32,
    /// Where pool users reach the PE.
    pub user_transport: TransportAddress<'a>,
    /// The selection policy and its parameters.
    pub policy: Policy,
    /// The PE's ASAP (SCTP) transport, if known.
    pub asap_transport: Option<TransportAddress<'a>>,
    /// The association the registration arrived over ([`AssocId::NONE`] when
    /// learnt from a peer registrar).
    pub assoc: AssocId,
}

/// What a successful registration did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegisterOutcome {
    /// A new PE was added.
    Added(PeRef),
    /// An existing PE (same pool and id) was updated.
    Updated(PeRef),
}

impl RegisterOutcome {
    /// The PE.
    pub const fn pe(self) -> PeRef {
        match self {
            RegisterOutcome::Added(pe) | RegisterOutcome::Updated(pe) => pe,
        }
    }
}

/// Which capacity ran out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Resource {
    /// The PE arena.
    PoolElements,
    /// The pool arena.
    Pools,
    /// The address storage.
    Addresses,
    /// The owner table.
    Owners,
}

/// Why a handlespace operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum HandlespaceError {
    /// A capacity limit was reached; nothing was changed.
    LackOfResources(Resource),
    /// The PE's policy type differs from the pool's.
    InconsistentPoolingPolicy {
        /// The pool's policy type.
        pool_policy_type: u32,
    },
    /// The PE's user transport protocol differs from the pool's.
    InconsistentTransportType {
        /// The pool's protocol.
        pool_protocol: TransportProtocol,
    },
    /// The PE's transport use (data only / data and control) differs from the pool's.
    InconsistentDataControlConfiguration {
        /// The pool's transport use.
        pool_transport_use: TransportUse,
    },
    /// The user transport is not valid.
    InvalidTransport(TransportError),
    /// The ASAP transport is not a valid SCTP transport.
    InvalidAsapTransport,
    /// The registration life is below -1.
    InvalidRegistrationLife(i32),
    /// No pool has this handle.
    UnknownPoolHandle,
    /// The pool has no PE with this id (or the reference is stale).
    UnknownPoolElement,
}

impl HandlespaceError {
    /// The ASAP/ENRP error cause for this error (SPEC §4). An unknown PE has
    /// no cause of its own: a registrar treats its deregistration as success
    /// (RFC 5352 §3.2); elsewhere it is reported as Unspecified Error.
    pub const fn cause(&self) -> CauseCode {
        match self {
            HandlespaceError::LackOfResources(_) => CauseCode::LackOfResources,
            HandlespaceError::InconsistentPoolingPolicy { .. } => {
                CauseCode::InconsistentPoolingPolicy
            }
            HandlespaceError::InconsistentTransportType { .. } => {
                CauseCode::InconsistentTransportType
            }
            HandlespaceError::InconsistentDataControlConfiguration { .. } => {
                CauseCode::InconsistentDataControlConfiguration
            }
            HandlespaceError::InvalidTransport(_)
            | HandlespaceError::InvalidAsapTransport
            | HandlespaceError::InvalidRegistrationLife(_) => CauseCode::InvalidValues,
            HandlespaceError::UnknownPoolHandle => CauseCode::UnknownPoolHandle,
            HandlespaceError::UnknownPoolElement => CauseCode::Unspecified,
        }
    }
}

impl fmt::Display for HandlespaceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandlespaceError::LackOfResources(r) => write!(f, "lack of resources ({r:?})"),
            HandlespaceError::InconsistentPoolingPolicy { pool_policy_type } => {
                write!(f, "pool uses policy type {pool_policy_type:#010x}")
            }
            HandlespaceError::InconsistentTransportType { pool_protocol } => {
                write!(f, "pool uses transport {pool_protocol}")
            }
            HandlespaceError::InconsistentDataControlConfiguration { pool_transport_use } => {
                write!(f, "pool uses transport use {pool_transport_use:?}")
            }
            HandlespaceError::InvalidTransport(e) => write!(f, "invalid user transport: {e}"),
            HandlespaceError::InvalidAsapTransport => f.write_str("invalid ASAP transport"),
            HandlespaceError::InvalidRegistrationLife(l) => {
                write!(f, "invalid registration life {l}")
            }
            HandlespaceError::UnknownPoolHandle => f.write_str("unknown pool handle"),
            HandlespaceError::UnknownPoolElement => f.write_str("unknown pool element"),
        }
    }
}

impl core::error::Error for HandlespaceError {}

/// A resumable position in one owner's PEs, for paging through them (ENRP
/// handle table responses) while the handlespace changes between pages. It
/// is a plain value: the last (pool handle, PE id) returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OwnershipCursor {
    /// The owner whose PEs are walked.
    pub owner: ServerId,
    /// The last PE returned, or `None` before the first.
    pub last: Option<(PoolHandle, PeId)>,
}

impl OwnershipCursor {
    /// A cursor before the first PE of `owner`.
    pub const fn new(owner: ServerId) -> Self {
        OwnershipCursor { owner, last: None }
    }
}

/// The ownership order's view over a handlespace's PE and pool arenas.
type OwnerOrder<'a, B, S> = OwnerView<
    'a,
    &'a mut <S as Storage>::Pes<<B as Backend>::Link>,
    <S as Storage>::Pools<<B as Backend>::Link, <B as Backend>::Root>,
    <B as Backend>::Root,
>;

/// Pools keyed by pool handle and their pool elements; see the
/// [module documentation](self).
pub struct Handlespace<B: Backend, S: Storage> {
    pes: S::Pes<B::Link>,
    pools: S::Pools<B::Link, B::Root>,
    addrs: S::Addrs,
    pool_map: S::PoolMap,
    pe_map: S::PeMap,
    owners: S::Owners,
    /// How many stored transports (user and ASAP) have `i` addresses, at
    /// index `i`: the widest one bounds the size of a PE's parameter.
    widths: [u32; MAX_TRANSPORT_ADDRESSES + 1],
    pool_root: B::Root,
    timer_root: B::Root,
    owner_root: B::Root,
    assoc_root: B::Root,
    seq: u64,
    timer_stamp: u32,
}

impl<B: Backend, S: Storage> fmt::Debug for Handlespace<B, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handlespace")
            .field("backend", &B::NAME)
            .field("pools", &self.pools.len())
            .field("pool_elements", &self.pes.len())
            .finish()
    }
}

impl<B: Backend, S: Storage> Default for Handlespace<B, S> {
    fn default() -> Self {
        Self::new()
    }
}

/// Calls a backend function on a pool's selection tree, with the view that
/// matches the pool's kind (weighted or ordered).
macro_rules! sel_mut {
    ($self:ident, $pool:expr, $f:ident $(, $arg:expr)*) => {{
        let p = &mut $self.pools[$pool];
        if p.weighted {
            B::$f(&mut p.sel_root, &mut SelView::<_, true> { pes: &mut $self.pes } $(, $arg)*)
        } else {
            B::$f(&mut p.sel_root, &mut SelView::<_, false> { pes: &mut $self.pes } $(, $arg)*)
        }
    }};
}

macro_rules! sel_ref {
    ($self:ident, $pool:expr, $f:ident $(, $arg:expr)*) => {{
        let p = &$self.pools[$pool];
        if p.weighted {
            B::$f(&p.sel_root, &SelView::<_, true> { pes: &$self.pes } $(, $arg)*)
        } else {
            B::$f(&p.sel_root, &SelView::<_, false> { pes: &$self.pes } $(, $arg)*)
        }
    }};
}

fn expiry(now: Instant, life: i32) -> Option<Instant> {
    (life >= 0).then(|| now + Duration::from_millis(life as u64))
}

fn extra_addresses(t: &TransportAddress<'_>) -> usize {
    t.addresses.len().saturating_sub(1)
}

impl<B: Backend, S: Storage> Handlespace<B, S> {
    /// An empty handlespace.
    ///
    /// With [`Fixed`] storage the value is as large as its capacities (about
    /// 200 bytes per PE); build it where it is to live (a `Box` on a host, a
    /// `static` cell on a board) rather than on a small stack.
    pub fn new() -> Self {
        Handlespace {
            pes: Default::default(),
            pools: Default::default(),
            addrs: Default::default(),
            pool_map: Default::default(),
            pe_map: Default::default(),
            owners: Default::default(),
            widths: [0; MAX_TRANSPORT_ADDRESSES + 1],
            pool_root: Default::default(),
            timer_root: Default::default(),
            owner_root: Default::default(),
            assoc_root: Default::default(),
            seq: 0,
            timer_stamp: 0,
        }
    }

    /// The number of pool elements.
    pub fn len(&self) -> usize {
        self.pes.len()
    }
    /// Whether there is no pool element.
    pub fn is_empty(&self) -> bool {
        self.pes.is_empty()
    }
    /// The number of pools.
    pub fn pool_count(&self) -> usize {
        self.pools.len()
    }
    /// The most pool elements it can hold.
    pub fn capacity(&self) -> usize {
        self.pes.capacity()
    }
    /// The most addresses beyond the first of each transport it can hold
    /// (shared by all PEs).
    pub fn address_capacity(&self) -> usize {
        self.addrs.capacity()
    }
    /// The further addresses stored (beyond the first of each transport).
    pub fn extra_addresses(&self) -> usize {
        self.addrs.len()
    }
    /// The most addresses any stored transport (user or ASAP) has now, 0
    /// when empty: with it a registrar bounds the size of any stored PE's
    /// Pool Element parameter before it picks PEs.
    pub fn widest_transport(&self) -> usize {
        self.widths.iter().rposition(|&c| c > 0).unwrap_or(0)
    }

    #[inline]
    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    #[inline]
    fn find_pool(&self, handle: &PoolHandle) -> Option<NodeId> {
        if <S::PoolMap as PoolMap>::ENABLED {
            self.pool_map.get(handle)
        } else {
            let view = PoolView {
                pools: &self.pools,
                _root: PhantomData,
            };
            B::find(&self.pool_root, &view, |v, n| {
                node::Access::get(&v.pools)[n]
                    .handle
                    .as_bytes()
                    .cmp(handle.as_bytes())
            })
        }
    }

    #[inline]
    fn find_pe(&self, pool: NodeId, pe_id: PeId) -> Option<NodeId> {
        if <S::PeMap as PeMap>::ENABLED {
            return self.pe_map.get(pool, pe_id);
        }
        B::find(
            &self.pools[pool].id_root,
            &IdView { pes: &self.pes },
            |v, n| node::Access::get(&v.pes)[n].pe_id.cmp(&pe_id),
        )
    }

    fn owner_view(&mut self) -> OwnerOrder<'_, B, S> {
        OwnerView {
            pes: &mut self.pes,
            pools: &self.pools,
            _root: PhantomData,
        }
    }

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
        let (first, v6) = PackedAddr::pack(&t.addresses[0]);
        let mut more = NIL;
        for a in t.addresses[1..].iter().rev() {
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
            first,
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
        self.pe_map.insert(pool, reg.pe_id, n);
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
        let mut root = self.owner_root;
        B::insert(&mut root, &mut self.owner_view(), n);
        self.owner_root = root;
        if self.owners.add(owner, block).is_err() {
            unreachable!("owner capacity checked");
        }
    }

    fn owner_unlink(&mut self, n: NodeId, owner: ServerId) {
        let block = self.block_sum(n);
        let mut root = self.owner_root;
        B::remove(&mut root, &mut self.owner_view(), n);
        self.owner_root = root;
        self.owners.remove(owner, block);
    }

    fn timer_unlink(&mut self, n: NodeId) {
        if self.pes[n].timer != 0 {
            B::remove(
                &mut self.timer_root,
                &mut TimerView { pes: &mut self.pes },
                n,
            );
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
        B::insert(
            &mut self.timer_root,
            &mut TimerView { pes: &mut self.pes },
            n,
        );
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
        let old_extra = usize::from(old_user.count.saturating_sub(1))
            + usize::from(old_asap.count.saturating_sub(1));
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
        let (pool, pe_id, home, user, asap) = {
            let pe = &self.pes[n];
            (pe.pool, pe.pe_id, pe.home, pe.user, pe.asap)
        };
        self.pe_map.remove(pool, pe_id);
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
        self.owner_root = Default::default();
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
    pub fn resolve<R: RandomSource + ?Sized>(
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
                x = sel_ref!(self, pool, next, node);
            }
            (got, out.first().copied().unwrap_or_default())
        };
        if got > 0 {
            let inc = select::max_increment(&self.pes[first.0].policy).min(got);
            for r in out[..inc].iter() {
                self.selected(pool, r.0);
            }
        }
        Ok(got)
    }

    fn pick_weighted<R: RandomSource + ?Sized>(
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
                let point = rng.below(total);
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

    fn pick_weighted_exact<R: RandomSource + ?Sized>(
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
            let point = rng.below(total);
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
    /// selection order if its key moved past a neighbour.
    fn selected(&mut self, pool: NodeId, n: NodeId) {
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
            && sel_ref!(self, pool, next, n).is_none_or(|x| {
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
        B::first(&self.timer_root, &TimerView { pes: &self.pes }).map(|n| self.pes[n].deadline)
    }

    /// Takes the earliest timer if it is due at `now` (the PE stays).
    pub fn pop_due_timer(&mut self, now: Instant) -> Option<(PeRef, PeTimerKind)> {
        let n = B::first(&self.timer_root, &TimerView { pes: &self.pes })?;
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
        let mut x = B::first(&self.timer_root, &TimerView { pes: &self.pes });
        while let Some(n) = x {
            let pe = &self.pes[n];
            if pe.deadline > now {
                break;
            }
            x = B::next(&self.timer_root, &TimerView { pes: &self.pes }, n);
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
        B::check(&self.timer_root, &TimerView { pes: &self.pes })?;
        if B::len(&self.timer_root) != with_timer {
            return err("timer order count wrong", NIL);
        }
        B::check(&self.assoc_root, &AssocView { pes: &self.pes })?;
        if B::len(&self.assoc_root) != pes {
            return err("association order count wrong", NIL);
        }
        let owner_view = OwnerView {
            pes: &self.pes,
            pools: &self.pools,
            _root: PhantomData,
        };
        B::check(&self.owner_root, &owner_view)?;
        if B::len(&self.owner_root) != with_owner {
            return err("ownership order count wrong", NIL);
        }
        // Owner table against a recomputation from the ownership order.
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
                    sum += usize::from(n.user.count.saturating_sub(1))
                        + usize::from(n.asap.count.saturating_sub(1));
                    for t in [&n.user, &n.asap] {
                        if t.present() {
                            let mut chain = 0usize;
                            let mut a = t.more;
                            while a != NIL && chain < MAX_TRANSPORT_ADDRESSES {
                                chain += 1;
                                a = self.addrs.get(a).map_or(NIL, |x| x.next);
                            }
                            if a != NIL || chain + 1 != usize::from(t.count) {
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
        let n = B::first(&self.timer_root, &TimerView { pes: &self.pes })?;
        let deadline = self.pes[n].deadline;
        let (pe, kind) = self.pop_due_timer(now)?;
        Some(((pe, kind), deadline))
    }
}

/// A read-only view of one pool element.
pub struct PeView<'a, B: Backend, S: Storage> {
    hs: &'a Handlespace<B, S>,
    n: NodeId,
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
    hs: &'a Handlespace<B, S>,
    first: Option<IpAddr>,
    next: NodeId,
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
            first: t.present().then(|| t.first.unpack(t.flags & F_V6 != 0)),
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
        buf: &'b mut [IpAddr; MAX_TRANSPORT_ADDRESSES],
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
}

/// A read-only view of one pool.
pub struct PoolInfo<'a, B: Backend, S: Storage> {
    hs: &'a Handlespace<B, S>,
    p: NodeId,
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
    hs: &'a Handlespace<B, S>,
    p: NodeId,
    next: Option<NodeId>,
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
    hs: &'a Handlespace<B, S>,
    p: NodeId,
    next: Option<NodeId>,
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
    hs: &'a Handlespace<B, S>,
    next: Option<NodeId>,
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
    hs: &'a Handlespace<B, S>,
    owner: ServerId,
    next: Option<NodeId>,
}

impl<'a, B: Backend, S: Storage> Iterator for OwnedBy<'a, B, S> {
    type Item = PeView<'a, B, S>;
    fn next(&mut self) -> Option<Self::Item> {
        let n = self.next?;
        let hs = self.hs;
        let view = OwnerView {
            pes: &hs.pes,
            pools: &hs.pools,
            _root: PhantomData,
        };
        self.next =
            B::next(&hs.owner_root, &view, n).filter(|&x| hs.pes[x].home == Some(self.owner));
        Some(PeView { hs, n })
    }
}

/// The PEs registered over one association.
pub struct ByAssociation<'a, B: Backend, S: Storage> {
    hs: &'a Handlespace<B, S>,
    assoc: AssocId,
    next: Option<NodeId>,
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

#[cfg(test)]
mod tests {
    //! Compiled with and without `alloc`: the fixed-capacity handlespace
    //! needs no heap.
    use super::*;
    use crate::storage::{RedBlackTree, Treap};
    use core::net::Ipv4Addr;

    fn registration(addresses: &[IpAddr], id: u32, load: u32) -> Registration<'_> {
        Registration {
            pool_handle: PoolHandle::new(b"board").unwrap(),
            pe_id: PeId::new(id).unwrap(),
            home_registrar: ServerId::new(1).ok(),
            registration_life: 5_000,
            user_transport: TransportAddress {
                protocol: TransportProtocol::Sctp,
                port: 9,
                transport_use: TransportUse::DataOnly,
                service_code: 0,
                addresses,
            },
            policy: Policy::LeastUsed { load },
            asap_transport: None,
            assoc: AssocId(3),
        }
    }

    fn fixed_without_heap<B: Backend>() {
        let addrs = [IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))];
        let mut hs: FixedHandlespace<B, 8, 2, 4, 2> = Handlespace::new();
        for (id, load) in [(1, 30), (2, 10), (3, 20)] {
            hs.register(Instant::ZERO, &registration(&addrs, id, load))
                .unwrap();
        }
        let mut rng = Xoshiro256StarStar::seed_from_u64(5);
        let mut out = [PeRef::default(); 3];
        let pool = PoolHandle::new(b"board").unwrap();
        assert_eq!(hs.resolve(&pool, 3, &mut rng, &mut out), Ok(3));
        let ids = out.map(|r| hs.get(r).unwrap().pe_id().get());
        assert_eq!(ids, [2, 3, 1]);
        assert_eq!(hs.owned_count(ServerId::new(1).unwrap()), 3);
        assert_eq!(hs.next_timer(), Some(Instant::from_secs(5)));
        assert_eq!(hs.purge_expired(Instant::from_secs(5)), 3);
        assert!(hs.is_empty());
        hs.check().unwrap();
    }

    #[test]
    fn fixed_handlespace_needs_no_heap() {
        fixed_without_heap::<RedBlackTree>();
        fixed_without_heap::<Treap>();
    }

    /// A PE record does not grow with the address limit: the first address
    /// of each transport is inline, the others go to the shared arena.
    #[test]
    fn record_sizes_do_not_depend_on_the_address_limit() {
        use core::mem::size_of;
        assert_eq!(MAX_TRANSPORT_ADDRESSES, 64);
        assert_eq!(size_of::<PeNode<crate::storage::rbtree::Link>>(), 200);
        assert_eq!(size_of::<PeNode<crate::storage::treap::Link>>(), 200);
        assert_eq!(size_of::<ExtraAddress>(), 24);
    }

    /// A PE with the most addresses in both transports, a full address
    /// arena refusing the next one, and the widths following the content.
    #[test]
    fn widest_pe_and_full_address_arena() {
        let wide: [IpAddr; MAX_TRANSPORT_ADDRESSES] =
            core::array::from_fn(|i| IpAddr::V4(Ipv4Addr::new(10, 0, (i / 256) as u8, i as u8)));
        let one = [IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))];
        let mut hs: FixedHandlespace<RedBlackTree, 8, 2, 130, 2> = Handlespace::new();
        assert_eq!(hs.widest_transport(), 0);
        let mut reg = registration(&wide, 1, 1);
        reg.asap_transport = Some(TransportAddress {
            protocol: TransportProtocol::Sctp,
            port: 7,
            transport_use: TransportUse::DataOnly,
            service_code: 0,
            addresses: &wide,
        });
        hs.register(Instant::ZERO, &reg).unwrap();
        assert_eq!(hs.extra_addresses(), 126);
        assert_eq!(hs.widest_transport(), MAX_TRANSPORT_ADDRESSES);
        let pool = PoolHandle::new(b"board").unwrap();
        let pe = PeId::new(1).unwrap();
        let mut buf = [IpAddr::V4(Ipv4Addr::UNSPECIFIED); MAX_TRANSPORT_ADDRESSES];
        let v = hs.lookup(&pool, pe).unwrap();
        assert_eq!(v.user_transport(&mut buf).addresses, &wide[..]);
        assert_eq!(v.asap_transport(&mut buf).unwrap().addresses, &wide[..]);
        // 4 slots left: a PE with 6 addresses does not fit, one with 5 does.
        assert_eq!(
            hs.register(Instant::ZERO, &registration(&wide[..6], 2, 1)),
            Err(HandlespaceError::LackOfResources(Resource::Addresses))
        );
        hs.check().unwrap();
        assert_eq!(hs.len(), 1);
        hs.register(Instant::ZERO, &registration(&wide[..5], 2, 1))
            .unwrap();
        assert_eq!(hs.address_capacity() - hs.extra_addresses(), 0);
        // Shrinking the wide PE frees its slots for others.
        hs.register(Instant::ZERO, &registration(&one, 1, 1))
            .unwrap();
        assert_eq!(hs.extra_addresses(), 4);
        assert_eq!(hs.widest_transport(), 5);
        hs.check().unwrap();
        hs.deregister(&pool, PeId::new(2).unwrap()).unwrap();
        assert_eq!(hs.widest_transport(), 1);
        assert_eq!(hs.extra_addresses(), 0);
        hs.check().unwrap();
        let mut over = [one[0]; MAX_TRANSPORT_ADDRESSES + 1];
        over[0] = wide[0];
        assert_eq!(
            hs.register(Instant::ZERO, &registration(&over, 3, 1)),
            Err(HandlespaceError::InvalidTransport(
                TransportError::TooManyAddresses
            ))
        );
    }
}
