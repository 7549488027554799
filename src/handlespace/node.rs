//! The records a handlespace stores and the views through which the
//! backends walk each order.

use core::cmp::Ordering;
use core::marker::PhantomData;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::select::{self, PolicyState};
use crate::addr::{TransportProtocol, TransportUse};
use crate::id::{AssocId, PeId, PoolHandle, ServerId};
use crate::policy::Policy;
use crate::storage::arena::Arena;
use crate::storage::{NodeId, Nodes};
use crate::time::Instant;

/// Link index of the pool's selection order.
pub(crate) const SEL: usize = 0;
/// Link index of the pool's PE id order.
pub(crate) const ID: usize = 1;
/// Link index of the timer tree (timers that fit no timer lane).
pub(crate) const TIMER: usize = 2;
/// Link index of the association order (association, node).
pub(crate) const ASSOC: usize = 3;
/// The number of orders a PE is in.
pub(crate) const ORDERS: usize = 4;

/// An IP address in 16 bytes (IPv4 in the first four).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct PackedAddr(pub [u8; 16]);

impl PackedAddr {
    pub(crate) fn pack(a: &IpAddr) -> (Self, bool) {
        match a {
            IpAddr::V4(v4) => {
                let mut b = [0u8; 16];
                b[..4].copy_from_slice(&v4.octets());
                (PackedAddr(b), false)
            }
            IpAddr::V6(v6) => (PackedAddr(v6.octets()), true),
        }
    }
    pub(crate) fn unpack(&self, v6: bool) -> IpAddr {
        if v6 {
            IpAddr::V6(Ipv6Addr::from(self.0))
        } else {
            IpAddr::V4(Ipv4Addr::new(self.0[0], self.0[1], self.0[2], self.0[3]))
        }
    }
}

/// An address of a transport beyond an IPv4 first one (which the PE record
/// holds), chained to the next one.
#[derive(Clone, Copy, Debug)]
pub struct ExtraAddress {
    pub(crate) addr: PackedAddr,
    pub(crate) next: NodeId,
    pub(crate) v6: bool,
}

/// Flag bits of a stored transport.
pub(crate) const F_PRESENT: u8 = 0x80;
pub(crate) const F_V6: u8 = 0x40;
pub(crate) const F_CONTROL: u8 = 0x20;
pub(crate) const F_PROTO: u8 = 0x07;

pub(crate) fn proto_bits(p: TransportProtocol) -> u8 {
    match p {
        TransportProtocol::Sctp => 0,
        TransportProtocol::Tcp => 1,
        TransportProtocol::Udp => 2,
        TransportProtocol::UdpLite => 3,
        TransportProtocol::Dccp => 4,
    }
}

pub(crate) fn proto_from_bits(b: u8) -> TransportProtocol {
    match b & F_PROTO {
        0 => TransportProtocol::Sctp,
        1 => TransportProtocol::Tcp,
        2 => TransportProtocol::Udp,
        3 => TransportProtocol::UdpLite,
        _ => TransportProtocol::Dccp,
    }
}

/// A transport as stored: an IPv4 first address inline, every other address
/// (an IPv6 first one included) chained in the address arena.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct StoredTransport {
    /// The first address when it is IPv4 (`F_V6` clear).
    pub(crate) first_v4: [u8; 4],
    pub(crate) more: NodeId,
    pub(crate) port: u16,
    pub(crate) flags: u8,
    pub(crate) count: u8,
}

impl StoredTransport {
    /// How many address arena records it holds.
    pub(crate) fn records(&self) -> usize {
        if !self.present() {
            0
        } else if self.flags & F_V6 != 0 {
            usize::from(self.count)
        } else {
            usize::from(self.count.saturating_sub(1))
        }
    }
    /// The first address when it is stored inline (IPv4).
    pub(crate) fn inline_first(&self) -> Option<IpAddr> {
        (self.present() && self.flags & F_V6 == 0).then(|| {
            let [a, b, c, d] = self.first_v4;
            IpAddr::V4(Ipv4Addr::new(a, b, c, d))
        })
    }
    pub(crate) fn present(&self) -> bool {
        self.flags & F_PRESENT != 0
    }
    pub(crate) fn protocol(&self) -> TransportProtocol {
        proto_from_bits(self.flags)
    }
    pub(crate) fn transport_use(&self) -> TransportUse {
        if self.flags & F_CONTROL != 0 {
            TransportUse::DataAndControl
        } else {
            TransportUse::DataOnly
        }
    }
}

/// A pool element as stored in the PE arena: its link records in the four
/// orders and its registration.
///
/// The layout is fixed (`repr(C)`) so that what a tree walk reads sits
/// together at the front: the policy (whose tag is also the arena slot's
/// tag), the PE id, the four links, then owner, pool, association and the
/// timer key. 176 bytes.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct PeNode<L> {
    pub(crate) policy: Policy,
    pub(crate) pe_id: PeId,
    pub(crate) links: [L; ORDERS],
    pub(crate) home: Option<ServerId>,
    pub(crate) pool: NodeId,
    pub(crate) assoc: AssocId,
    /// The next PE in its (pool, PE id) hash chain, if the storage has one.
    pub(crate) map_next: NodeId,
    pub(crate) deadline: Instant,
    /// When the timer was set, to keep equal deadlines in setting order.
    pub(crate) timer_stamp: u32,
    /// The neighbours in the timer lane (see `lanes`).
    pub(crate) timer_prev: NodeId,
    pub(crate) timer_next: NodeId,
    pub(crate) life: i32,
    pub(crate) sel_sum: u64,
    pub(crate) state: PolicyState,
    pub(crate) service_code: u32,
    pub(crate) user: StoredTransport,
    pub(crate) asap: StoredTransport,
    pub(crate) timer: u8,
    /// Which timer lane holds the timer, or `lanes::IN_TREE`.
    pub(crate) timer_lane: u8,
}

/// A pool as stored in the pool arena.
#[derive(Clone, Copy, Debug)]
pub struct PoolNode<L, R> {
    pub(crate) handle: PoolHandle,
    pub(crate) link: L,
    pub(crate) sel_root: R,
    pub(crate) id_root: R,
    pub(crate) policy_type: u32,
    pub(crate) handle_sum: u32,
    pub(crate) protocol: TransportProtocol,
    pub(crate) transport_use: TransportUse,
    pub(crate) weighted: bool,
}

/// Shared or exclusive access to an arena, so that one view type serves both
/// read-only walks and changes. Read-only walks never ask for `link_mut`.
pub(crate) trait Access {
    type Target;
    fn get(&self) -> &Self::Target;
    fn get_mut(&mut self) -> &mut Self::Target;
}

impl<T> Access for &T {
    type Target = T;
    #[inline]
    fn get(&self) -> &T {
        self
    }
    fn get_mut(&mut self) -> &mut T {
        unreachable!("a read-only view was asked to change a link")
    }
}

impl<T> Access for &mut T {
    type Target = T;
    #[inline]
    fn get(&self) -> &T {
        self
    }
    #[inline]
    fn get_mut(&mut self) -> &mut T {
        self
    }
}

macro_rules! pe_links {
    ($k:expr) => {
        #[inline]
        fn link(&self, n: NodeId) -> &L {
            &self.pes.get()[n].links[$k]
        }
        #[inline]
        fn link_mut(&mut self, n: NodeId) -> &mut L {
            &mut self.pes.get_mut()[n].links[$k]
        }
    };
}

/// The selection order of one pool; `W` says whether it keeps weight sums.
pub(crate) struct SelView<R, const W: bool> {
    pub(crate) pes: R,
}

impl<L, R, const W: bool> Nodes<L> for SelView<R, W>
where
    R: Access,
    R::Target: Arena<PeNode<L>>,
{
    const WEIGHTED: bool = W;
    pe_links!(SEL);
    #[inline]
    fn cmp(&self, a: NodeId, b: NodeId) -> Ordering {
        let p = self.pes.get();
        let (a, b) = (&p[a], &p[b]);
        select::compare(&a.policy, &a.state, &b.policy, &b.state)
    }
    #[inline]
    fn weight(&self, n: NodeId) -> u64 {
        let pe = &self.pes.get()[n];
        select::weight(&pe.policy, &pe.state)
    }
    #[inline]
    fn subtree_sum(&self, n: NodeId) -> u64 {
        self.pes.get()[n].sel_sum
    }
    #[inline]
    fn set_subtree_sum(&mut self, n: NodeId, sum: u64) {
        self.pes.get_mut()[n].sel_sum = sum;
    }
}

/// The PE id order of one pool.
pub(crate) struct IdView<R> {
    pub(crate) pes: R,
}

impl<L, R> Nodes<L> for IdView<R>
where
    R: Access,
    R::Target: Arena<PeNode<L>>,
{
    pe_links!(ID);
    #[inline]
    fn cmp(&self, a: NodeId, b: NodeId) -> Ordering {
        let p = self.pes.get();
        p[a].pe_id.cmp(&p[b].pe_id)
    }
}

/// The timer tree, for timers that fit no lane: (deadline, stamp, node). The stamp (when the
/// timer was set; it may wrap) puts timers with equal deadlines in the order
/// they were set, so that they append; the node id keeps the order strict.
pub(crate) struct TimerView<R> {
    pub(crate) pes: R,
}

impl<L, R> Nodes<L> for TimerView<R>
where
    R: Access,
    R::Target: Arena<PeNode<L>>,
{
    pe_links!(TIMER);
    #[inline]
    fn cmp(&self, a: NodeId, b: NodeId) -> Ordering {
        let p = self.pes.get();
        let (x, y) = (&p[a], &p[b]);
        (x.deadline, x.timer_stamp, a).cmp(&(y.deadline, y.timer_stamp, b))
    }
}

/// The association order: (association, node).
pub(crate) struct AssocView<R> {
    pub(crate) pes: R,
}

impl<L, R> Nodes<L> for AssocView<R>
where
    R: Access,
    R::Target: Arena<PeNode<L>>,
{
    pe_links!(ASSOC);
    #[inline]
    fn cmp(&self, a: NodeId, b: NodeId) -> Ordering {
        let p = self.pes.get();
        (p[a].assoc, a).cmp(&(p[b].assoc, b))
    }
}

/// The pool order: by pool handle bytes.
pub(crate) struct PoolView<R, RT> {
    pub(crate) pools: R,
    pub(crate) _root: PhantomData<RT>,
}

impl<L, RT, R> Nodes<L> for PoolView<R, RT>
where
    R: Access,
    R::Target: Arena<PoolNode<L, RT>>,
{
    #[inline]
    fn link(&self, n: NodeId) -> &L {
        &self.pools.get()[n].link
    }
    #[inline]
    fn link_mut(&mut self, n: NodeId) -> &mut L {
        &mut self.pools.get_mut()[n].link
    }
    #[inline]
    fn cmp(&self, a: NodeId, b: NodeId) -> Ordering {
        let p = self.pools.get();
        p[a].handle.as_bytes().cmp(p[b].handle.as_bytes())
    }
}
