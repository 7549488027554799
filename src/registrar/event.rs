//! What the registrar tells its application and its ENRP layer: events,
//! owned copies of pool elements, and counters.

use core::net::IpAddr;

use arrayvec::ArrayVec;

use crate::addr::{TransportAddress, TransportProtocol, TransportUse, MAX_TRANSPORT_ADDRESSES};
use crate::cause::CauseCode;
use crate::handlespace::{PeView, Storage};
use crate::id::{PeId, PoolHandle, ServerId};
use crate::policy::Policy;
use crate::storage::Backend;
use crate::wire::{PolicyParam, PoolElementParam, TransportParam, UserTransport};

/// An owned copy of a transport address (no borrow of the handlespace).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransportRecord {
    /// The protocol.
    pub protocol: TransportProtocol,
    /// The port.
    pub port: u16,
    /// Data only or data plus control.
    pub transport_use: TransportUse,
    /// The DCCP service code (0 otherwise).
    pub service_code: u32,
    /// The addresses.
    pub addresses: ArrayVec<IpAddr, MAX_TRANSPORT_ADDRESSES>,
}

impl TransportRecord {
    /// A copy of `t` (addresses beyond [`MAX_TRANSPORT_ADDRESSES`] are cut).
    pub fn from_address(t: &TransportAddress<'_>) -> Self {
        TransportRecord {
            protocol: t.protocol,
            port: t.port,
            transport_use: t.transport_use,
            service_code: t.service_code,
            addresses: t
                .addresses
                .iter()
                .copied()
                .take(MAX_TRANSPORT_ADDRESSES)
                .collect(),
        }
    }
    /// The transport as a borrowed [`TransportAddress`].
    pub fn as_address(&self) -> TransportAddress<'_> {
        TransportAddress {
            protocol: self.protocol,
            port: self.port,
            transport_use: self.transport_use,
            service_code: self.service_code,
            addresses: &self.addresses,
        }
    }
    /// The transport as a wire parameter.
    pub fn as_param(&self) -> TransportParam<'_> {
        super::to_param(&self.as_address())
    }
}

/// An owned copy of a pool element as the handlespace holds it: everything
/// an ENRP_HANDLE_UPDATE needs ([`PeRecord::as_param`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeRecord {
    /// The pool.
    pub pool_handle: PoolHandle,
    /// The PE.
    pub pe_id: PeId,
    /// Its home registrar.
    pub home_registrar: Option<ServerId>,
    /// Registration life in milliseconds (-1: infinite).
    pub registration_life: i32,
    /// Its policy and parameters.
    pub policy: Policy,
    /// Where pool users reach it.
    pub user_transport: TransportRecord,
    /// Where its registrar reaches it (ASAP, SCTP).
    pub asap_transport: Option<TransportRecord>,
}

impl PeRecord {
    /// A copy of the PE behind `view`.
    pub fn from_view<B: Backend, S: Storage>(view: &PeView<'_, B, S>) -> Self {
        let mut buf = [IpAddr::V4(core::net::Ipv4Addr::UNSPECIFIED); MAX_TRANSPORT_ADDRESSES];
        let user = TransportRecord::from_address(&view.user_transport(&mut buf));
        let asap = view
            .asap_transport(&mut buf)
            .map(|t| TransportRecord::from_address(&t));
        PeRecord {
            pool_handle: *view.pool_handle(),
            pe_id: view.pe_id(),
            home_registrar: view.home_registrar(),
            registration_life: view.registration_life(),
            policy: view.policy(),
            user_transport: user,
            asap_transport: asap,
        }
    }
    /// The PE as a Pool Element parameter.
    pub fn as_param(&self) -> PoolElementParam<'_> {
        PoolElementParam {
            pe_id: self.pe_id,
            home_server: self.home_registrar,
            registration_life: self.registration_life,
            user_transport: UserTransport::Transport(self.user_transport.as_param()),
            policy: PolicyParam::Known(self.policy),
            asap_transport: self.asap_transport.as_ref().map(TransportRecord::as_param),
        }
    }
}

/// Why the registrar removed a PE it owned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum RemovalReason {
    /// The PE deregistered (ASAP_DEREGISTRATION).
    Deregistered,
    /// Its registration life ran out (the PE got a DEREGISTRATION_RESPONSE).
    LifetimeExpired,
    /// It did not answer a keep-alive within the timeout.
    KeepAliveTimeout,
    /// More than MAX-BAD-PE-REPORT ENDPOINT_UNREACHABLE reports.
    Unreachable,
    /// The association it registered over went down or failed to deliver.
    TransportFailure,
}

/// What was being done when the transmit queue had no room.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Blocked {
    /// An ASAP message of this type could not be answered: it was not
    /// applied (the sender retransmits).
    Message(u8),
    /// Due timers (keep-alive, lifetime, announce) wait until the queue is
    /// drained; `handle_timeout` carries on with them next time.
    Timers,
}

/// An event for the application or the ENRP layer
/// ([`Registrar::poll_event`](super::Registrar::poll_event)).
///
/// `PoolElementRegistered` and `PoolElementRemoved` are the ENRP hooks: each
/// is a handlespace change this registrar made as home registrar, which an
/// ENRP layer group-casts as ENRP_HANDLE_UPDATE ADD_PE / DEL_PE (RFC 5353
/// §3.3). Changes applied from peers
/// ([`Registrar::apply_peer_update`](super::Registrar::apply_peer_update))
/// raise no event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A PE registered (`new`) or re-registered with this registrar as home:
    /// its complete state after the change.
    PoolElementRegistered {
        /// The PE as now stored.
        pe: PeRecord,
        /// A new PE (not a re-registration).
        new: bool,
    },
    /// A PE owned by this registrar was removed.
    PoolElementRemoved {
        /// The PE as it was.
        pe: PeRecord,
        /// Why.
        reason: RemovalReason,
    },
    /// The transmit queue was full (see [`Blocked`]); drain `poll_transmit`.
    QueueFull(Blocked),
    /// Something happened on the ENRP side.
    Enrp(super::EnrpEvent),
}

/// Counters of what the registrar did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Registrations accepted that added a PE.
    pub registrations: u64,
    /// Registrations accepted that updated an existing PE.
    pub reregistrations: u64,
    /// Registrations rejected, by cause code (index = code, 0x0-0xA).
    pub rejections: [u64; 11],
    /// Registrations refused (0xA, also counted in `rejections`) because
    /// their association's peer had not authenticated while
    /// [`RegistrarConfig::require_authentication`](super::RegistrarConfig)
    /// is on.
    pub unauthenticated_registrations: u64,
    /// Deregistrations answered with success (including unknown PEs).
    pub deregistrations: u64,
    /// Deregistrations refused (security).
    pub deregistrations_refused: u64,
    /// Handle resolutions answered with PEs.
    pub resolutions: u64,
    /// Handle resolutions answered with Unknown Pool Handle.
    pub resolutions_unknown_pool: u64,
    /// ENDPOINT_KEEP_ALIVEs sent (periodic, probes and takeover).
    pub keep_alives_sent: u64,
    /// ASAP associations opened to PEs without one, to send them a
    /// keep-alive (taken over or learnt from a peer).
    pub pe_connects: u64,
    /// Of those, the ones that could not be established (the PE is removed).
    pub pe_connects_failed: u64,
    /// Keep-alives postponed because [`MAX_PE_CONNECTS`](super::MAX_PE_CONNECTS)
    /// connects were in flight.
    pub pe_connects_deferred: u64,
    /// KEEP_ALIVE_ACKs accepted.
    pub keep_alive_acks: u64,
    /// KEEP_ALIVE_ACKs ignored (unknown PE, wrong association, not owned).
    pub keep_alive_acks_ignored: u64,
    /// ENDPOINT_UNREACHABLE reports counted against a PE.
    pub unreachable_reports: u64,
    /// ENDPOINT_UNREACHABLE reports dropped by the per-reporter limit.
    pub unreachable_rate_limited: u64,
    /// ENDPOINT_UNREACHABLE reports about unknown PEs or PEs of other registrars.
    pub unreachable_ignored: u64,
    /// PEs removed by deregistration.
    pub removed_deregistered: u64,
    /// PEs removed by lifetime expiry (owned and peer-owned).
    pub removed_lifetime: u64,
    /// PEs removed by keep-alive timeout.
    pub removed_keep_alive: u64,
    /// PEs removed after too many unreachable reports.
    pub removed_unreachable: u64,
    /// PEs removed because their association failed.
    pub removed_transport: u64,
    /// SERVER_ANNOUNCEs sent.
    pub announces: u64,
    /// ASAP_ERRORs sent (unrecognized messages and parameters).
    pub errors_sent: u64,
    /// Malformed input dropped silently.
    pub malformed: u64,
    /// Well-formed messages a registrar does not take (e.g. COOKIE) or from
    /// the wrong kind of source, dropped.
    pub unexpected: u64,
    /// ENRP messages ignored (no ENRP layer).
    pub enrp_ignored: u64,
    /// Inputs or timers held back because the transmit queue was full.
    pub queue_full: u64,
    /// Events dropped because the event queue was full.
    pub events_lost: u64,
    /// ASAP_COOKIE challenges sent to sources whose return path is not
    /// verified, in place of an answer larger than
    /// [`AMPLIFICATION_LIMIT`](super::AMPLIFICATION_LIMIT) times its request
    /// (see the [registrar module](super), "Return routability").
    pub challenges_sent: u64,
    /// Associations whose return path an ASAP_COOKIE_ECHO of the current
    /// challenge verified; they are answered in full from then on.
    pub paths_verified: u64,
    /// Answers not sent because they were larger than the budget of an
    /// unverified source ([`AMPLIFICATION_LIMIT`](super::AMPLIFICATION_LIMIT)
    /// times the request, less what was already answered to it).
    pub answers_withheld: u64,
    /// ASAP_COOKIE_ECHOs dropped: not the association's current challenge,
    /// no challenge outstanding, or not on an association.
    pub echoes_rejected: u64,
    /// Registrations of new PEs refused with Lack of Resources by a quota
    /// (per association, per host, per pool; see [`RegistrarConfig`](super::RegistrarConfig)).
    pub quota_refused: u64,
    /// Further peer addresses of associations not kept, the table being
    /// full ([`MAX_FURTHER_PEER_ADDRESSES`](super::MAX_FURTHER_PEER_ADDRESSES)
    /// per association, the association table's capacity in all): a
    /// registration naming one of them is refused.
    pub peer_addresses_dropped: u64,
}

impl Stats {
    /// Every counter at zero (what `default()` gives), as a constant.
    pub(crate) const ZERO: Stats = Stats {
        registrations: 0,
        reregistrations: 0,
        rejections: [0; 11],
        unauthenticated_registrations: 0,
        deregistrations: 0,
        deregistrations_refused: 0,
        resolutions: 0,
        resolutions_unknown_pool: 0,
        keep_alives_sent: 0,
        pe_connects: 0,
        pe_connects_failed: 0,
        pe_connects_deferred: 0,
        keep_alive_acks: 0,
        keep_alive_acks_ignored: 0,
        unreachable_reports: 0,
        unreachable_rate_limited: 0,
        unreachable_ignored: 0,
        removed_deregistered: 0,
        removed_lifetime: 0,
        removed_keep_alive: 0,
        removed_unreachable: 0,
        removed_transport: 0,
        announces: 0,
        errors_sent: 0,
        malformed: 0,
        unexpected: 0,
        enrp_ignored: 0,
        queue_full: 0,
        events_lost: 0,
        challenges_sent: 0,
        paths_verified: 0,
        answers_withheld: 0,
        echoes_rejected: 0,
        quota_refused: 0,
        peer_addresses_dropped: 0,
    };
}

impl Stats {
    /// Registrations rejected with `cause`.
    pub fn rejections_with(&self, cause: CauseCode) -> u64 {
        self.rejections
            .get(usize::from(cause.code()))
            .copied()
            .unwrap_or(0)
    }
    /// Registrations rejected, all causes.
    pub fn rejections_total(&self) -> u64 {
        self.rejections.iter().sum()
    }
}
