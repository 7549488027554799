//! Counters of a simulation run: the network's and the application's.

use std::fmt;

use std::collections::{BTreeMap, BTreeSet};

use crate::host::Tally;

use super::types::{NodeId, Payload};

/// Everything a run counts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    // --- network ---
    /// Messages delivered to a node.
    pub delivered: u64,
    /// Messages that vanished (datagram loss, dead peer, closed association).
    pub dropped: u64,
    /// Datagrams delivered twice.
    pub duplicated: u64,
    /// Datagrams held back (reordered).
    pub reordered: u64,
    /// Association messages delayed by a simulated retransmission.
    pub retransmissions: u64,
    /// Connects asked for.
    pub connects: u64,
    /// Associations established.
    pub associations: u64,
    /// Node crashes.
    pub crashes: u64,
    /// Transmit queue errors reported by machines.
    pub transmit_errors: u64,
    /// Times a node asked for its timeout over and over at one instant
    /// without clearing it (see [`MAX_TIMEOUTS_AT_ONCE`](super::world::MAX_TIMEOUTS_AT_ONCE)).
    pub timer_storms: u64,
    /// ASAP messages sent, by message type (index = type, 0x01-0x0E).
    pub asap_sent: [u64; 16],
    /// ENRP messages sent (a multicast counts once, a group-cast over
    /// associations once per peer).
    pub enrp_sent: u64,
    /// ENRP messages sent, by message type (index = type, 0x01-0x0A).
    pub enrp_by_type: [u64; 16],
    /// The nodes that sent ENRP messages, by message type (e.g. who
    /// initiated a takeover, who won it).
    pub enrp_senders: BTreeMap<u8, BTreeSet<NodeId>>,
    /// Application data messages sent.
    pub data_sent: u64,
    // --- application ---
    /// Requests issued by pool users.
    pub requests: u64,
    /// Requests answered by a pool element (first answer only).
    pub served: u64,
    /// Times a pool user gave up on a PE and chose another.
    pub failovers: u64,
    /// Requests never served although the pool still had a live PE.
    pub lost: u64,
    /// Requests never served because no PE was alive.
    pub unserved: u64,
    /// Answers to requests that had already been served.
    pub duplicates: u64,
    /// Answers that differed from their request.
    pub mismatches: u64,
    /// Requests still in progress when the run ended.
    pub in_flight: u64,
    /// ENDPOINT_UNREACHABLE reports made by pool users.
    pub unreachable_reports: u64,
    /// Registrations and re-registrations granted, as the pool elements
    /// saw them (REGISTRATION_RESPONSE without reject).
    pub registrations: u64,
    /// COOKIEs sent by pool elements.
    pub cookies_sent: u64,
    /// COOKIE_ECHOs received by pool elements.
    pub cookie_echoes: u64,
    /// Sum of the times from first send to answer, in microseconds.
    pub service_time_sum_us: u64,
    /// Longest time from first send to answer, in microseconds.
    pub service_time_max_us: u64,
    /// Requests served after at least one failover.
    pub failed_over_served: u64,
    /// Sum of their times from issue to answer, in microseconds.
    pub failover_time_sum_us: u64,
    /// The longest of those, in microseconds.
    pub failover_time_max_us: u64,
}

impl Counters {
    /// Counts what a host reports.
    pub fn record(&mut self, tally: Tally) {
        match tally {
            Tally::Registered => self.registrations += 1,
            Tally::CookieSent => self.cookies_sent += 1,
            Tally::CookieEcho => self.cookie_echoes += 1,
            Tally::Request => self.requests += 1,
            Tally::Served { took, failed_over } => {
                let took = took.as_micros();
                self.served += 1;
                self.service_time_sum_us += took;
                self.service_time_max_us = self.service_time_max_us.max(took);
                if failed_over {
                    self.failed_over_served += 1;
                    self.failover_time_sum_us += took;
                    self.failover_time_max_us = self.failover_time_max_us.max(took);
                }
            }
            Tally::Failover => {
                self.failovers += 1;
                self.unreachable_reports += 1;
            }
            Tally::Duplicate => self.duplicates += 1,
            Tally::Mismatch => self.mismatches += 1,
            Tally::TransmitError => self.transmit_errors += 1,
            Tally::RegistrationFailed | Tally::Answer | Tally::SessionClosed => {}
        }
    }

    /// Counts one sent message.
    pub fn count_sent(&mut self, payload: Payload, bytes: &[u8]) {
        match payload {
            Payload::Asap => {
                let t = bytes.first().copied().unwrap_or(0) as usize;
                self.asap_sent[t.min(15)] += 1;
            }
            Payload::Enrp => {
                let t = bytes.first().copied().unwrap_or(0) as usize;
                self.enrp_by_type[t.min(15)] += 1;
                self.enrp_sent += 1;
            }
            Payload::Data(_) => self.data_sent += 1,
        }
    }

    /// ASAP messages sent of one type.
    pub fn asap(&self, message_type: u8) -> u64 {
        self.asap_sent[usize::from(message_type).min(15)]
    }

    /// Counts one message sent by `from` (see [`count_sent`](Self::count_sent)).
    pub fn count_sent_by(&mut self, from: NodeId, payload: Payload, bytes: &[u8]) {
        self.count_sent(payload, bytes);
        if payload == Payload::Enrp {
            let t = bytes.first().copied().unwrap_or(0);
            self.enrp_senders.entry(t).or_default().insert(from);
        }
    }

    /// The nodes that sent ENRP messages of one type.
    pub fn enrp_senders_of(&self, message_type: u8) -> Vec<NodeId> {
        self.enrp_senders
            .get(&message_type)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default()
    }

    /// ENRP messages sent of one type.
    pub fn enrp(&self, message_type: u8) -> u64 {
        self.enrp_by_type[usize::from(message_type).min(15)]
    }

    /// All ASAP messages sent.
    pub fn asap_total(&self) -> u64 {
        self.asap_sent.iter().sum()
    }
}

impl fmt::Display for Counters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "delivered={} dropped={} duplicated={} reordered={} retransmissions={} \
             associations={} crashes={} timer_storms={} transmit_errors={} asap={} enrp={} data={} duplicates={} mismatches={} \
             unserved={} in_flight={} unreachable_reports={} cookies={} cookie_echoes={}",
            self.delivered,
            self.dropped,
            self.duplicated,
            self.reordered,
            self.retransmissions,
            self.associations,
            self.crashes,
            self.timer_storms,
            self.transmit_errors,
            self.asap_total(),
            self.enrp_sent,
            self.data_sent,
            self.duplicates,
            self.mismatches,
            self.unserved,
            self.in_flight,
            self.unreachable_reports,
            self.cookies_sent,
            self.cookie_echoes,
        )
    }
}
