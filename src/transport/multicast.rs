//! Multicast channels for registrar announcements (ASAP SERVER_ANNOUNCE,
//! ENRP PRESENCE), shared by the UDP transports.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use crate::wire::{ASAP_PORT, ENRP_PORT};

/// A multicast channel: the group (address and port) and the local
/// interface to use, IPv4 or IPv6.
///
/// Registrars send ASAP_SERVER_ANNOUNCE and ENRP PRESENCE there; pool
/// elements and pool users listen on the ASAP channel to find registrars,
/// registrars on the ENRP channel to find each other. A node that sends on
/// a channel sends from its own socket, so its bind address must be of the
/// channel's family ([`Multicast::is_ipv6`]). Datagrams are sent with a TTL
/// (IPv4) or hop limit (IPv6) of 1 and loop back to listeners of the same
/// host.
///
/// The defaults: rsplib's IPv4 groups `239.0.0.50:3863` (ASAP) and
/// `239.0.0.51:9901` (ENRP), in the administratively scoped 239/8; for
/// IPv6 the site-local (scope 5) groups `[ff05::50]:3863` and
/// `[ff05::51]:9901` ([`ASAP_GROUP_V6`], [`ENRP_GROUP_V6`]), the same last
/// byte in the IPv6 counterpart of an administratively scoped range.
/// Another site-wide scope (e.g. organisation-local `ff08::50`) is a
/// matter of [`Multicast::v6`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Multicast {
    /// An IPv4 group.
    V4 {
        /// The group and port.
        group: SocketAddrV4,
        /// The interface, by its address (`127.0.0.1` for one host,
        /// `0.0.0.0` for the system's choice).
        interface: Ipv4Addr,
    },
    /// An IPv6 group.
    V6 {
        /// The group and port (the scope id is not used: `interface` is).
        group: SocketAddrV6,
        /// The interface, by its index (0 for the system's choice).
        interface: u32,
    },
}

/// rsplib's IPv4 ASAP announce group.
pub const ASAP_GROUP_V4: Ipv4Addr = Ipv4Addr::new(239, 0, 0, 50);
/// rsplib's IPv4 ENRP group.
pub const ENRP_GROUP_V4: Ipv4Addr = Ipv4Addr::new(239, 0, 0, 51);
/// The IPv6 ASAP announce group, site-local `ff05::50`.
pub const ASAP_GROUP_V6: Ipv6Addr = Ipv6Addr::new(0xff05, 0, 0, 0, 0, 0, 0, 0x50);
/// The IPv6 ENRP group, site-local `ff05::51`.
pub const ENRP_GROUP_V6: Ipv6Addr = Ipv6Addr::new(0xff05, 0, 0, 0, 0, 0, 0, 0x51);

impl Multicast {
    /// An IPv4 channel: `group` on the interface with address `interface`.
    pub fn v4(group: SocketAddrV4, interface: Ipv4Addr) -> Self {
        Multicast::V4 { group, interface }
    }

    /// An IPv6 channel: `group` on the interface with index `interface`.
    pub fn v6(group: SocketAddrV6, interface: u32) -> Self {
        Multicast::V6 { group, interface }
    }

    /// rsplib's ASAP announce channel, `239.0.0.50:3863`, on `interface`.
    pub fn asap(interface: Ipv4Addr) -> Self {
        Self::v4(SocketAddrV4::new(ASAP_GROUP_V4, ASAP_PORT), interface)
    }

    /// rsplib's ENRP channel, `239.0.0.51:9901`, on `interface`.
    pub fn enrp(interface: Ipv4Addr) -> Self {
        Self::v4(SocketAddrV4::new(ENRP_GROUP_V4, ENRP_PORT), interface)
    }

    /// The IPv6 ASAP announce channel, `[ff05::50]:3863`, on the interface
    /// with index `interface`.
    pub fn asap_v6(interface: u32) -> Self {
        Self::v6(SocketAddrV6::new(ASAP_GROUP_V6, ASAP_PORT, 0, 0), interface)
    }

    /// The IPv6 ENRP channel, `[ff05::51]:9901`, on the interface with
    /// index `interface`.
    pub fn enrp_v6(interface: u32) -> Self {
        Self::v6(SocketAddrV6::new(ENRP_GROUP_V6, ENRP_PORT, 0, 0), interface)
    }

    /// The group and port.
    pub fn group(&self) -> SocketAddr {
        match *self {
            Multicast::V4 { group, .. } => SocketAddr::V4(group),
            Multicast::V6 { group, .. } => SocketAddr::V6(group),
        }
    }

    /// Whether it is an IPv6 channel.
    pub fn is_ipv6(&self) -> bool {
        matches!(self, Multicast::V6 { .. })
    }

    /// Sets the multicast interface, loopback and TTL / hop limit 1 on a
    /// socket of the channel's family.
    pub(crate) fn configure_send(&self, s: &socket2::SockRef<'_>) -> io::Result<()> {
        match *self {
            Multicast::V4 { interface, .. } => {
                s.set_multicast_if_v4(&interface)?;
                s.set_multicast_loop_v4(true)?;
                s.set_multicast_ttl_v4(1)
            }
            Multicast::V6 { interface, .. } => {
                s.set_multicast_if_v6(interface)?;
                s.set_multicast_loop_v6(true)?;
                s.set_multicast_hops_v6(1)
            }
        }
    }
}
