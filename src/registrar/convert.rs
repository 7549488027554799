//! Conversions between wire parameters and handlespace registrations.

use super::*;
use crate::wire::TransportParam;

/// A PE parameter converted for the handlespace: the user transport's
/// addresses copied into fixed storage.
pub(super) struct Converted {
    pub(super) policy: Policy,
    pub(super) user_protocol: TransportProtocol,
    pub(super) user_port: u16,
    pub(super) user_use: TransportUse,
    pub(super) user_service_code: u32,
    pub(super) user_addrs: [IpAddr; MAX_TRANSPORT_ADDRESSES],
    pub(super) user_len: usize,
    pub(super) asap: Option<(u16, [IpAddr; MAX_TRANSPORT_ADDRESSES], usize)>,
}

pub(super) const UNSPECIFIED: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);

impl Converted {
    pub(super) fn new(pe: &PoolElementParam<'_>) -> Option<Self> {
        let UserTransport::Transport(t) = &pe.user_transport else {
            return None;
        };
        let policy = pe.policy.policy()?;
        let mut user_addrs = [UNSPECIFIED; MAX_TRANSPORT_ADDRESSES];
        let mut user_len = 0;
        for (slot, a) in user_addrs.iter_mut().zip(t.addresses.iter()) {
            *slot = a;
            user_len += 1;
        }
        let asap = pe.asap_transport.as_ref().and_then(|a| {
            if a.protocol != TransportProtocol::Sctp {
                return None;
            }
            let mut addrs = [UNSPECIFIED; MAX_TRANSPORT_ADDRESSES];
            let mut n = 0;
            for (slot, x) in addrs.iter_mut().zip(a.addresses.iter()) {
                *slot = x;
                n += 1;
            }
            Some((a.port, addrs, n))
        });
        Some(Converted {
            policy,
            user_protocol: t.protocol,
            user_port: t.port,
            user_use: t.transport_use,
            user_service_code: t.service_code,
            user_addrs,
            user_len,
            asap,
        })
    }

    pub(super) fn user(&self) -> TransportAddress<'_> {
        TransportAddress {
            protocol: self.user_protocol,
            port: self.user_port,
            transport_use: self.user_use,
            service_code: self.user_service_code,
            addresses: &self.user_addrs[..self.user_len],
        }
    }

    pub(super) fn asap(&self) -> Option<TransportAddress<'_>> {
        self.asap.as_ref().map(|(port, addrs, n)| TransportAddress {
            protocol: TransportProtocol::Sctp,
            port: *port,
            transport_use: TransportUse::DataOnly,
            service_code: 0,
            addresses: &addrs[..*n],
        })
    }
}

/// Calls `f` with the Pool Element parameter of a stored PE.
pub(super) fn with_pe_param<B: Backend, S: Storage, R>(
    v: &PeView<'_, B, S>,
    f: impl FnOnce(&PoolElementParam<'_>) -> R,
) -> R {
    // Most PEs have a few addresses: buffers of that size first (the
    // parameter is built for every PE of every answer), the full ones only
    // for a PE with more.
    const FEW: usize = 4;
    let mut small = ([UNSPECIFIED; FEW], [UNSPECIFIED; FEW]);
    if let Some((user, asap)) = v.transports_in(&mut small.0, &mut small.1) {
        return pe_param(v, &user, asap.as_ref(), f);
    }
    let mut ubuf = [UNSPECIFIED; MAX_TRANSPORT_ADDRESSES];
    let mut abuf = [UNSPECIFIED; MAX_TRANSPORT_ADDRESSES];
    let user = v.user_transport(&mut ubuf);
    let asap = v.asap_transport(&mut abuf);
    pe_param(v, &user, asap.as_ref(), f)
}

/// Calls `f` with the Pool Element parameter of `v` with these transports.
fn pe_param<B: Backend, S: Storage, R>(
    v: &PeView<'_, B, S>,
    user: &TransportAddress<'_>,
    asap: Option<&TransportAddress<'_>>,
    f: impl FnOnce(&PoolElementParam<'_>) -> R,
) -> R {
    let p = PoolElementParam {
        pe_id: v.pe_id(),
        home_server: v.home_registrar(),
        registration_life: v.registration_life(),
        user_transport: UserTransport::Transport(to_param(user)),
        policy: PolicyParam::Known(v.policy()),
        asap_transport: asap.map(to_param),
    };
    f(&p)
}

/// A transport address as a wire parameter.
pub(super) fn to_param<'a>(t: &TransportAddress<'a>) -> TransportParam<'a> {
    TransportParam {
        protocol: t.protocol,
        port: t.port,
        transport_use: t.transport_use,
        service_code: t.service_code,
        addresses: List::from_slice(t.addresses),
    }
}
