//! The user transport of a cached PE, packed: IPv4 addresses in 4 bytes,
//! IPv6 in 16, in a fixed budget of [`CACHED_ADDRESS_BYTES`], so that a
//! cache slot stays about as small as with one address limit for all while
//! a PE may have up to [`MAX_TRANSPORT_ADDRESSES`] addresses.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::addr::{TransportProtocol, TransportUse, MAX_TRANSPORT_ADDRESSES};
use crate::asap_client::OwnedTransport;
use crate::wire::TransportParam;

/// The address bytes a cached PE keeps: all 64 addresses if IPv4, 16 if
/// IPv6, or a mix. Addresses beyond are left out of the cache (in wire
/// order, the first ones are kept): a pool user needs only some of a
/// multi-homed PE's addresses to reach it.
pub const CACHED_ADDRESS_BYTES: usize = 256;

// One bit per address says IPv6.
const _: () = assert!(MAX_TRANSPORT_ADDRESSES <= 64);

/// A PE's user transport as the pool user caches it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct CachedTransport {
    protocol: TransportProtocol,
    transport_use: TransportUse,
    port: u16,
    count: u8,
    /// Bit `i`: address `i` is IPv6.
    v6: u64,
    bytes: [u8; CACHED_ADDRESS_BYTES],
}

impl CachedTransport {
    /// Packs the first addresses of `t` that fit (at least the first one;
    /// `None` for a transport without address).
    pub(super) fn from_param(t: &TransportParam<'_>) -> Option<Self> {
        let mut c = CachedTransport {
            protocol: t.protocol,
            transport_use: t.transport_use,
            port: t.port,
            count: 0,
            v6: 0,
            bytes: [0; CACHED_ADDRESS_BYTES],
        };
        let mut used = 0;
        for a in t.addresses.iter().take(MAX_TRANSPORT_ADDRESSES) {
            let (octets, len): ([u8; 16], usize) = match a {
                IpAddr::V4(v4) => {
                    let mut b = [0; 16];
                    b[..4].copy_from_slice(&v4.octets());
                    (b, 4)
                }
                IpAddr::V6(v6) => (v6.octets(), 16),
            };
            let Some(slot) = c.bytes.get_mut(used..used + len) else {
                break;
            };
            slot.copy_from_slice(&octets[..len]);
            if len == 16 {
                c.v6 |= 1 << c.count;
            }
            used += len;
            c.count += 1;
        }
        (c.count > 0).then_some(c)
    }

    /// The addresses, in order.
    pub(super) fn addresses(&self) -> impl Iterator<Item = IpAddr> + '_ {
        let mut at = 0;
        (0..self.count).map(move |i| {
            if self.v6 & (1 << i) != 0 {
                let mut b = [0; 16];
                b.copy_from_slice(&self.bytes[at..at + 16]);
                at += 16;
                IpAddr::V6(Ipv6Addr::from(b))
            } else {
                let b = &self.bytes[at..at + 4];
                at += 4;
                IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]))
            }
        })
    }

    /// The transport with its addresses unpacked.
    pub(super) fn to_owned_transport(&self) -> OwnedTransport {
        let mut addresses = heapless::Vec::new();
        for a in self.addresses() {
            // At most MAX_TRANSPORT_ADDRESSES were packed.
            let _ = addresses.push(a);
        }
        OwnedTransport {
            protocol: self.protocol,
            port: self.port,
            transport_use: self.transport_use,
            addresses,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs(v4: usize, v6: usize) -> std::vec::Vec<IpAddr> {
        let mut v = std::vec::Vec::new();
        for i in 0..v4.max(v6) {
            if i < v4 {
                v.push(IpAddr::V4(Ipv4Addr::new(10, 0, 0, i as u8)));
            }
            if i < v6 {
                v.push(IpAddr::V6(Ipv6Addr::new(
                    0x2001, 0xdb8, 0, 0, 0, 0, 0, i as u16,
                )));
            }
        }
        v
    }

    fn round_trip(list: &[IpAddr]) -> std::vec::Vec<IpAddr> {
        let p = TransportParam::new(TransportProtocol::Sctp, 9, TransportUse::DataOnly, list);
        let c = CachedTransport::from_param(&p).unwrap();
        let o = c.to_owned_transport();
        assert_eq!((o.protocol, o.port), (TransportProtocol::Sctp, 9));
        o.addresses.to_vec()
    }

    #[test]
    fn keeps_what_fits_in_order() {
        // 64 IPv4: all.
        let all = addrs(64, 0);
        assert_eq!(round_trip(&all), all);
        // 16 IPv6: all.
        let v6 = addrs(0, 16);
        assert_eq!(round_trip(&v6), v6);
        // 19 mixed (10 IPv4, 9 IPv6: 184 bytes): all.
        let mixed = addrs(10, 9);
        assert_eq!(mixed.len(), 19);
        assert_eq!(round_trip(&mixed), mixed);
        // 64 mixed: the first ones that fit in the budget.
        let many = addrs(32, 32);
        let kept = round_trip(&many);
        assert_eq!(kept, many[..kept.len()]);
        let bytes: usize = kept.iter().map(|a| if a.is_ipv4() { 4 } else { 16 }).sum();
        assert!(bytes <= CACHED_ADDRESS_BYTES && bytes + 16 > CACHED_ADDRESS_BYTES);
        assert!(core::mem::size_of::<CachedTransport>() <= CACHED_ADDRESS_BYTES + 16);
    }
}
