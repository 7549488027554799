//! Transport addresses of pool elements and registrars: the protocol, port,
//! data/control use and IP addresses that an RFC 5354 transport parameter
//! carries.

use core::fmt;
use core::net::IpAddr;

/// The most IP addresses one transport address may carry in this crate: 64,
/// as rsplib (`MAX_PE_TRANSPORTADDRESSES`).
///
/// A transport with more is refused, never truncated: a registrar answers
/// such a registration with a rejecting ASAP_REGISTRATION_RESPONSE carrying
/// Invalid Values (RFC 5352 §3.1, as rsplib's parser), and a peer's
/// ENRP_HANDLE_UPDATE with an ENRP_ERROR carrying Invalid Values.
///
/// The limit does not size a handlespace's PE records: they hold the first
/// address of each transport inline and chain the others in the
/// handlespace's address arena (its `ADDRS` capacity), so a PE with one
/// address costs the same whatever the limit. It does size the buffers that
/// copy one transport's addresses out (`[IpAddr; MAX_TRANSPORT_ADDRESSES]`,
/// 17 bytes an address) and owned records such as the registrar's
/// `TransportRecord`.
///
/// Set at build time with the environment variable `RSERPOOL_MAX_TRANSPORT_ADDRESSES` (1 to 64; default 64), as every limit in [the crate's list](crate#limits-set-at-build-time).
pub const MAX_TRANSPORT_ADDRESSES: usize = crate::limits::MAX_TRANSPORT_ADDRESSES;

/// The transport protocol of a transport parameter (RFC 5354 §3.3-§3.7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum TransportProtocol {
    /// SCTP Transport (0x0004): one or more addresses, data-only or data-and-control.
    Sctp,
    /// TCP Transport (0x0005): exactly one address, data only.
    Tcp,
    /// UDP Transport (0x0006): exactly one address, data only.
    Udp,
    /// UDP-Lite Transport (0x0007): exactly one address, data only.
    UdpLite,
    /// DCCP Transport (0x0003): exactly one address and a service code, data only.
    Dccp,
}

impl TransportProtocol {
    /// The RFC 5354 parameter type that carries this protocol.
    pub const fn parameter_type(self) -> u16 {
        match self {
            TransportProtocol::Dccp => 0x0003,
            TransportProtocol::Sctp => 0x0004,
            TransportProtocol::Tcp => 0x0005,
            TransportProtocol::Udp => 0x0006,
            TransportProtocol::UdpLite => 0x0007,
        }
    }
    /// The protocol carried by an RFC 5354 parameter type, if it is a transport.
    pub const fn from_parameter_type(t: u16) -> Option<Self> {
        Some(match t {
            0x0003 => TransportProtocol::Dccp,
            0x0004 => TransportProtocol::Sctp,
            0x0005 => TransportProtocol::Tcp,
            0x0006 => TransportProtocol::Udp,
            0x0007 => TransportProtocol::UdpLite,
            _ => return None,
        })
    }
    /// Whether the protocol allows more than one address (only SCTP does).
    pub const fn is_multihomed(self) -> bool {
        matches!(self, TransportProtocol::Sctp)
    }
    /// The protocol's name.
    pub const fn name(self) -> &'static str {
        match self {
            TransportProtocol::Sctp => "SCTP",
            TransportProtocol::Tcp => "TCP",
            TransportProtocol::Udp => "UDP",
            TransportProtocol::UdpLite => "UDP-Lite",
            TransportProtocol::Dccp => "DCCP",
        }
    }
}

impl fmt::Display for TransportProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Whether a transport carries only application data or also the ASAP control
/// channel (RFC 5354 §3.4 Transport Use).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum TransportUse {
    /// 0x0000: data only.
    #[default]
    DataOnly,
    /// 0x0001: data plus control.
    DataAndControl,
}

impl TransportUse {
    /// The wire value.
    pub const fn value(self) -> u16 {
        match self {
            TransportUse::DataOnly => 0,
            TransportUse::DataAndControl => 1,
        }
    }
    /// The use for a wire value, or `None` for an undefined one.
    pub const fn from_value(v: u16) -> Option<Self> {
        match v {
            0 => Some(TransportUse::DataOnly),
            1 => Some(TransportUse::DataAndControl),
            _ => None,
        }
    }
}

/// A transport address as a borrowed description: what a registration offers
/// and what a lookup reports, without owning the addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TransportAddress<'a> {
    /// The transport protocol.
    pub protocol: TransportProtocol,
    /// The port.
    pub port: u16,
    /// Data only, or data plus control (only SCTP may carry control).
    pub transport_use: TransportUse,
    /// The DCCP service code (zero for other protocols).
    pub service_code: u32,
    /// The IP addresses (at least one; exactly one unless SCTP).
    pub addresses: &'a [IpAddr],
}

/// Why a transport address is not acceptable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum TransportError {
    /// No address at all.
    NoAddress,
    /// More than one address for a protocol that takes exactly one.
    TooManyAddressesForProtocol,
    /// More than [`MAX_TRANSPORT_ADDRESSES`] addresses.
    TooManyAddresses,
    /// A protocol other than SCTP claims to carry control (RFC 5354 §3.5-§3.7).
    ControlNotAllowed,
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TransportError::NoAddress => "transport without address",
            TransportError::TooManyAddressesForProtocol => {
                "more than one address for a single-homed protocol"
            }
            TransportError::TooManyAddresses => "too many addresses",
            TransportError::ControlNotAllowed => "only SCTP may carry control",
        })
    }
}

impl core::error::Error for TransportError {}

impl TransportAddress<'_> {
    /// Checks the RFC 5354 rules and this crate's address limit.
    pub fn validate(&self) -> Result<(), TransportError> {
        if self.addresses.is_empty() {
            return Err(TransportError::NoAddress);
        }
        if self.addresses.len() > MAX_TRANSPORT_ADDRESSES {
            return Err(TransportError::TooManyAddresses);
        }
        if !self.protocol.is_multihomed() && self.addresses.len() > 1 {
            return Err(TransportError::TooManyAddressesForProtocol);
        }
        if !self.protocol.is_multihomed() && self.transport_use == TransportUse::DataAndControl {
            return Err(TransportError::ControlNotAllowed);
        }
        Ok(())
    }
}

/// `ip` with an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) as the IPv4
/// address it stands for, so that the two compare equal.
pub(crate) fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::Ipv4Addr;

    #[test]
    fn validation() {
        let one = [IpAddr::V4(Ipv4Addr::LOCALHOST)];
        let two = [one[0], IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))];
        let mut t = TransportAddress {
            protocol: TransportProtocol::Sctp,
            port: 3863,
            transport_use: TransportUse::DataAndControl,
            service_code: 0,
            addresses: &two,
        };
        assert_eq!(t.validate(), Ok(()));
        t.protocol = TransportProtocol::Tcp;
        assert_eq!(
            t.validate(),
            Err(TransportError::TooManyAddressesForProtocol)
        );
        t.addresses = &one;
        assert_eq!(t.validate(), Err(TransportError::ControlNotAllowed));
        t.transport_use = TransportUse::DataOnly;
        assert_eq!(t.validate(), Ok(()));
        t.addresses = &[];
        assert_eq!(t.validate(), Err(TransportError::NoAddress));
        for p in [3u16, 4, 5, 6, 7] {
            assert_eq!(
                TransportProtocol::from_parameter_type(p)
                    .unwrap()
                    .parameter_type(),
                p
            );
        }
        assert_eq!(TransportProtocol::from_parameter_type(8), None);
    }
}
