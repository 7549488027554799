//! The handlespace: pools keyed by pool handle, pool elements keyed by
//! (pool, PE id), selection by policy, ownership, timers and checksums.
//!
//! A [`Handlespace`] is generic over the index algorithm `B` (a
//! [`Backend`]: red-black tree, treap, or sorted list) and over its storage
//! `S` ([`Fixed`] capacities without heap, or [`Growable`] arenas with
//! `alloc`). Every PE is one record in a PE arena, linked into its pool's
//! selection order (with subtree weight sums for the random policies), its
//! pool's PE id order, the association order and the timer order. The
//! timer order is a few FIFO lanes (O(1): timers set to "now plus an
//! interval" come in deadline order) with a tree for timers that fit no
//! lane. Ownership has no order of its own: a registrar's PEs are walked
//! through the pools' id orders, and each owner's count and checksum are
//! kept as PEs come and go. Every operation but iteration is O(log n), and
//! setting, moving and cancelling a timer O(1) in the common case.
//!
//! Capacity is explicit: a registration that does not fit is refused with
//! [`HandlespaceError::LackOfResources`] and leaves the handlespace exactly
//! as it was.
//!
//! # Storage and memory
//!
//! A PE record ([`PeNode`]) is 176 bytes with either tree backend: four
//! 12-byte links, the timer lane's two, the policy and its
//! [`PolicyState`], the registration fields, and both transports with
//! their first address inline when it is IPv4 (every other address, an
//! IPv6 first one included, up to [`MAX_TRANSPORT_ADDRESSES`] a transport,
//! is chained in a separate address arena of 24-byte records shared by all
//! PEs, so the record does not grow with the limit or the address family;
//! with [`Fixed`] storage its capacity is `ADDRS`, and a registration whose
//! addresses do not fit is refused with [`Resource::Addresses`]). Only the selection order keeps a subtree
//! weight sum. A pool is
//! stored once, with its handle, its overall policy type and transport, and
//! the roots of its two orders.
//!
//! * [`Fixed`] storage: fixed-capacity arenas (no heap); pools are found in
//!   the pool tree and PEs in their pool's id order, both O(log n).
//! * [`Growable`] storage (`alloc`): arenas that grow in chunks of
//!   [`CHUNK_SLOTS`] records, plus hash
//!   indexes from pool handle to pool and from (pool, PE id) to PE (the
//!   latter chained through the PE records, a 4-byte bucket per PE or two),
//!   so that registration, re-registration, deregistration and lookup need
//!   no tree descent to find their PE. About 206 bytes per PE in all at
//!   100,000 PEs.
//!
//! # Orders
//!
//! | Order | Key | Used by |
//! |---|---|---|
//! | selection (per pool) | [`Policy::compare`], weight sums for weighted policies | [`resolve`](Handlespace::resolve) |
//! | id (per pool) | PE id | lookup, [`PoolInfo::elements`] |
//! | timer (lanes, tree for the rest) | deadline, then the order timers were set | [`next_timer`](Handlespace::next_timer), [`purge_expired`](Handlespace::purge_expired) |
//! | ownership (no index: the pools' id orders, filtered) | home registrar, pool handle bytes, PE id | [`next_owned`](Handlespace::next_owned), [`take_over`](Handlespace::take_over) |
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
//! # Layout
//!
//! This file holds the types and the index plumbing; the operations
//! (registration, removal, resolution, associations, timers), ownership,
//! the views and iterators, and the invariant checker
//! ([`check`](Handlespace::check)) each have a file of their own.
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
use crate::random::{below, Rng};
use crate::storage::arena::Arena;
use crate::storage::{Backend, InvariantError, NodeId, NIL};
use crate::time::{Duration, Instant};
use crate::timer::TimerIndex;

pub mod checksum;
mod node;
mod select;
pub mod store;

pub use node::{ExtraAddress, PeNode, PoolNode};
pub use select::PolicyState;
#[cfg(feature = "alloc")]
pub use store::Growable;
pub use store::{Fixed, OwnerEntry, OwnerTable, Owners, PeMap, PoolMap, Storage};

use node::{
    AssocView, IdView, PackedAddr, PoolView, SelView, StoredTransport, TimerView, F_CONTROL,
    F_PRESENT, F_V6,
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
    lanes: [lanes::Lane; lanes::LANES],
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

// The operations, ownership, views and invariant checker, after the macros
// they use.
mod check;
mod lanes;
mod operations;
mod ownership;
mod view;

pub use view::{
    Addresses, ByAssociation, OwnedBy, PeView, PoolElements, PoolInfo, Pools, SelectionOrder,
};

fn expiry(now: Instant, life: i32) -> Option<Instant> {
    (life >= 0).then(|| now + Duration::from_millis(life as u64))
}

/// The address arena records a transport takes: every address but an IPv4
/// first one (stored inline in the PE record).
fn extra_addresses(t: &TransportAddress<'_>) -> usize {
    match t.addresses.first() {
        Some(IpAddr::V4(_)) => t.addresses.len() - 1,
        _ => t.addresses.len(),
    }
}

impl<B: Backend, S: Storage> Handlespace<B, S> {
    /// An empty handlespace.
    ///
    /// With [`Fixed`] storage the value is as large as its capacities (about
    /// 176 bytes per PE); build it where it is to live (a `Box` on a host, a
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
            lanes: [lanes::Lane::EMPTY; lanes::LANES],
            assoc_root: Default::default(),
            seq: 0,
            timer_stamp: 0,
        }
    }
}

impl<B: Backend, const PES: usize, const POOLS: usize, const ADDRS: usize, const OWNERS: usize>
    Handlespace<B, Fixed<PES, POOLS, ADDRS, OWNERS>>
{
    /// An empty handlespace with [`Fixed`] storage, built at compile time:
    /// the same value as [`new`](Self::new), but usable to initialise a
    /// `static` (or a `static_cell::ConstStaticCell`), so that a large
    /// handlespace never passes through the stack.
    ///
    /// ```
    /// use rserpool::handlespace::FixedHandlespace;
    /// use rserpool::storage::RedBlackTree;
    ///
    /// static HS: FixedHandlespace<RedBlackTree, 64, 4, 8, 2> = FixedHandlespace::new_const();
    /// assert!(HS.is_empty());
    /// assert_eq!(HS.capacity(), 64);
    /// ```
    pub const fn new_const() -> Self {
        Handlespace {
            pes: crate::storage::arena::FixedArena::new(),
            pools: crate::storage::arena::FixedArena::new(),
            addrs: crate::storage::arena::FixedArena::new(),
            pool_map: store::TreePoolLookup,
            pe_map: store::TreePeLookup,
            owners: store::Owners::new(),
            widths: [0; MAX_TRANSPORT_ADDRESSES + 1],
            pool_root: B::EMPTY_ROOT,
            timer_root: B::EMPTY_ROOT,
            lanes: [lanes::Lane::EMPTY; lanes::LANES],
            assoc_root: B::EMPTY_ROOT,
            seq: 0,
            timer_stamp: 0,
        }
    }
}

impl<B: Backend, S: Storage> Handlespace<B, S> {
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
    /// The most addresses it can hold beyond a first IPv4 address of each
    /// transport (shared by all PEs; an IPv6 first address takes one).
    pub fn address_capacity(&self) -> usize {
        self.addrs.capacity()
    }
    /// The addresses stored in the address arena: every address of a
    /// transport but its first when that is IPv4.
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
            return self.pe_map.get(&self.pes, pool, pe_id);
        }
        B::find(
            &self.pools[pool].id_root,
            &IdView { pes: &self.pes },
            |v, n| node::Access::get(&v.pes)[n].pe_id.cmp(&pe_id),
        )
    }
}

#[cfg(test)]
mod tests {
    //! Compiled with and without `alloc`: the fixed-capacity handlespace
    //! needs no heap.
    use super::*;
    use crate::random::Xoshiro256StarStar;
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

    /// A generator of the caller's own (here a counter stepping through the
    /// quarters of the 64-bit range) drives the weighted selection.
    #[test]
    fn foreign_generator_drives_a_selection() {
        struct Quarters(u64);
        impl crate::random::TryRng for Quarters {
            type Error = core::convert::Infallible;
            fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
                Ok((self.try_next_u64()? >> 32) as u32)
            }
            fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
                self.0 += 1;
                Ok((self.0 % 4) << 62)
            }
            fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
                dst.fill(0);
                Ok(())
            }
        }
        let addrs = [IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))];
        let mut hs: FixedHandlespace<RedBlackTree, 8, 2, 4, 2> = Handlespace::new();
        for (id, weight) in [(1, 1), (2, 3)] {
            let mut reg = registration(&addrs, id, 0);
            reg.policy = Policy::WeightedRandom { weight };
            hs.register(Instant::ZERO, &reg).unwrap();
        }
        let pool = PoolHandle::new(b"board").unwrap();
        let mut rng = Quarters(0);
        let mut picks = [0u32; 3];
        for _ in 0..8 {
            let mut out = [PeRef::default(); 1];
            assert_eq!(hs.resolve(&pool, 1, &mut rng, &mut out), Ok(1));
            picks[hs.get(out[0]).unwrap().pe_id().get() as usize] += 1;
        }
        // Each quarter of the total weight 4 is hit twice: PE 2 owns three.
        assert_eq!(picks, [0, 2, 6]);
        // Through a trait object too.
        let dyn_rng: &mut dyn crate::random::Rng = &mut rng;
        let mut out = [PeRef::default(); 2];
        assert_eq!(hs.resolve(&pool, 2, dyn_rng, &mut out), Ok(2));
        hs.check().unwrap();
    }

    /// A PE record does not grow with the address limit: the first address
    /// of each transport is inline, the others go to the shared arena.
    #[test]
    fn record_sizes_do_not_depend_on_the_address_limit() {
        use core::mem::size_of;
        assert_eq!(MAX_TRANSPORT_ADDRESSES, 64);
        assert_eq!(size_of::<PeNode<crate::storage::rbtree::Link>>(), 176);
        assert_eq!(size_of::<PeNode<crate::storage::treap::Link>>(), 176);
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
