//! A user transport held by value (addresses copied into a fixed array), for
//! configurations, caches and selections that outlive the message they came in.

use core::net::IpAddr;

use crate::addr::{
    TransportAddress, TransportError, TransportProtocol, TransportUse, MAX_TRANSPORT_ADDRESSES,
};
use crate::wire::{TransportParam, UserTransport};

/// A transport (protocol, port, data/control use, addresses) owned by value:
/// at most [`MAX_TRANSPORT_ADDRESSES`] addresses, no heap.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct OwnedTransport {
    /// The protocol.
    pub protocol: TransportProtocol,
    /// The port.
    pub port: u16,
    /// Data only, or data plus control channel.
    pub transport_use: TransportUse,
    /// The addresses, in order.
    pub addresses: heapless::Vec<IpAddr, MAX_TRANSPORT_ADDRESSES>,
}

impl OwnedTransport {
    /// A transport of `M` addresses (at most
    /// [`MAX_TRANSPORT_ADDRESSES`],
    /// a compile-time error otherwise) built at compile time, unchecked:
    /// the pool element checks it as [`new`](Self::new) does when it
    /// registers.
    pub const fn new_const<const M: usize>(
        protocol: TransportProtocol,
        port: u16,
        transport_use: TransportUse,
        addresses: [IpAddr; M],
    ) -> Self {
        OwnedTransport {
            protocol,
            port,
            transport_use,
            addresses: heapless::Vec::from_array(addresses),
        }
    }

    /// A validated transport ([`TransportAddress::validate`]).
    pub fn new(
        protocol: TransportProtocol,
        port: u16,
        transport_use: TransportUse,
        addresses: &[IpAddr],
    ) -> Result<Self, TransportError> {
        TransportAddress {
            protocol,
            port,
            transport_use,
            service_code: 0,
            addresses,
        }
        .validate()?;
        let mut v = heapless::Vec::new();
        v.extend_from_slice(addresses)
            .map_err(|_| TransportError::TooManyAddresses)?;
        Ok(OwnedTransport {
            protocol,
            port,
            transport_use,
            addresses: v,
        })
    }

    /// Copies a parsed transport parameter; `None` when it has more
    /// addresses than fit.
    pub fn from_param(t: &TransportParam<'_>) -> Option<Self> {
        let mut v = heapless::Vec::new();
        for a in t.addresses.iter() {
            v.push(a).ok()?;
        }
        Some(OwnedTransport {
            protocol: t.protocol,
            port: t.port,
            transport_use: t.transport_use,
            addresses: v,
        })
    }

    /// Copies a PE's user transport; `None` for an opaque transport or one
    /// with too many addresses.
    pub fn from_user_transport(t: &UserTransport<'_>) -> Option<Self> {
        Self::from_param(t.transport()?)
    }

    /// The transport as a wire parameter borrowing the addresses.
    pub fn param(&self) -> TransportParam<'_> {
        TransportParam::new(
            self.protocol,
            self.port,
            self.transport_use,
            &self.addresses,
        )
    }
}
