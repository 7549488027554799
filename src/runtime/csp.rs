//! rsplib's Component Status Protocol (CSP): a node reports its identity,
//! where it runs, a status line, its workload and its associations to a
//! monitor (rsplib's `cspmonitor`) over UDP, every
//! [`CspConfig::interval`], and a last report with the *final* flag when
//! it stops ([`NodeConfig::csp`](super::NodeConfig::csp)).
//!
//! The layout is rsplib's (`componentstatuspackets.h`, version 0x0200), in
//! network byte order: a 24-byte common header (type 1, flags, length,
//! version, sender id, sender time stamp in µs since the reporter
//! started), the report interval in µs (32 bits), the location and status
//! as 128-byte NUL-padded strings, the workload (`0xffff`: none; else
//! `load × 0xfffe`), the number of associations, then 24 bytes per
//! association (receiver id, duration in µs, flags, IP protocol, PPID).
//! Component ids carry their group in the top 16 bits
//! ([`component_id`]).

use std::net::SocketAddr;
use std::string::String;
use std::vec::Vec;

use crate::wire::{ASAP_PPID, ENRP_PPID};

/// The CSP version this crate writes.
pub const CSP_VERSION: u32 = 0x0200;
/// A report's message type.
pub const CSPT_REPORT: u8 = 0x01;
/// The flag of a node's last report.
pub const CSPF_FINAL: u8 = 0x01;
/// The size of the location and status strings (with their NUL).
pub const CSP_TEXT_SIZE: usize = 128;
/// A report without associations.
pub const CSP_REPORT_SIZE: usize = 24 + 4 + 2 * CSP_TEXT_SIZE + 2 + 2;
/// One association entry.
pub const CSP_ASSOCIATION_SIZE: usize = 24;
/// The most associations one report lists.
pub const CSP_MAX_ASSOCIATIONS: usize = 256;

/// What kind of component sends a report (rsplib's `CID_GROUP_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ComponentGroup {
    /// A registrar.
    Registrar = 1,
    /// A pool element.
    PoolElement = 2,
    /// A pool user.
    PoolUser = 3,
}

/// A component id: the group in the top 16 bits, the object (a server or
/// PE id, a pool user's random number) in the low 56.
pub const fn component_id(group: ComponentGroup, object: u64) -> u64 {
    ((group as u64) << 56) | (object & 0x00ff_ffff_ffff_ffff)
}

/// Where and how often a node reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CspConfig {
    /// The monitor's address (`cspmonitor -localaddress=`).
    pub to: SocketAddr,
    /// The time between two reports (rsplib's `-cspinterval`).
    pub interval: core::time::Duration,
}

/// One association a report lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CspAssociation {
    /// The component at its other end.
    pub receiver: u64,
    /// How long it has existed, in µs (`u64::MAX`: unknown).
    pub duration_us: u64,
    /// Its flags (0).
    pub flags: u16,
    /// Its IP protocol (132 SCTP, 6 TCP, 17 UDP).
    pub protocol: u16,
    /// The PPID of what it carries.
    pub ppid: u32,
}

/// What a node says of itself in a report.
#[derive(Clone, Debug, PartialEq)]
pub struct CspStatus {
    /// Its component id.
    pub id: u64,
    /// Its status line (at most 127 bytes are sent).
    pub status: String,
    /// Its workload, 0.0 to 1.0 (`None`: it has none).
    pub workload: Option<f64>,
    /// Its associations (at most [`CSP_MAX_ASSOCIATIONS`] are sent).
    pub associations: Vec<CspAssociation>,
}

/// A whole report.
#[derive(Clone, Debug, PartialEq)]
pub struct CspReport {
    /// What the node says of itself.
    pub status: CspStatus,
    /// Where it runs: host name and addresses (at most 127 bytes are sent).
    pub location: String,
    /// µs since the reporter started.
    pub uptime_us: u64,
    /// The report interval, in µs.
    pub interval_us: u32,
    /// Its last report.
    pub last: bool,
}

fn put_text(out: &mut Vec<u8>, text: &str) {
    let mut bytes = text.as_bytes();
    if bytes.len() >= CSP_TEXT_SIZE {
        // Cut at a character boundary, one byte left for the NUL.
        let mut end = CSP_TEXT_SIZE - 1;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        bytes = &bytes[..end];
    }
    out.extend_from_slice(bytes);
    out.resize(out.len() + CSP_TEXT_SIZE - bytes.len(), 0);
}

impl CspReport {
    /// The report as rsplib's monitor reads it.
    pub fn encode(&self) -> Vec<u8> {
        let assocs =
            &self.status.associations[..self.status.associations.len().min(CSP_MAX_ASSOCIATIONS)];
        let length = CSP_REPORT_SIZE + assocs.len() * CSP_ASSOCIATION_SIZE;
        let mut out = Vec::with_capacity(length);
        out.push(CSPT_REPORT);
        out.push(if self.last { CSPF_FINAL } else { 0 });
        out.extend_from_slice(&(length as u16).to_be_bytes());
        out.extend_from_slice(&CSP_VERSION.to_be_bytes());
        out.extend_from_slice(&self.status.id.to_be_bytes());
        out.extend_from_slice(&self.uptime_us.to_be_bytes());
        out.extend_from_slice(&self.interval_us.to_be_bytes());
        put_text(&mut out, &self.location);
        put_text(&mut out, &self.status.status);
        let workload = match self.status.workload {
            Some(w) if w >= 0.0 => (w.min(1.0) * f64::from(0xfffe_u16)).round() as u16,
            _ => 0xffff,
        };
        out.extend_from_slice(&workload.to_be_bytes());
        out.extend_from_slice(&(assocs.len() as u16).to_be_bytes());
        for a in assocs {
            out.extend_from_slice(&a.receiver.to_be_bytes());
            out.extend_from_slice(&a.duration_us.to_be_bytes());
            out.extend_from_slice(&a.flags.to_be_bytes());
            out.extend_from_slice(&a.protocol.to_be_bytes());
            out.extend_from_slice(&a.ppid.to_be_bytes());
        }
        out
    }
}

/// The IP protocol number of a node's transport (for association entries).
pub(crate) fn ip_protocol(sctp: bool) -> u16 {
    if sctp {
        132
    } else {
        17
    }
}

/// An association entry to a registrar (ASAP or ENRP) of unknown age.
pub(crate) fn to_registrar(server_id: u32, enrp: bool, sctp: bool) -> CspAssociation {
    CspAssociation {
        receiver: component_id(ComponentGroup::Registrar, u64::from(server_id)),
        duration_us: u64::MAX,
        flags: 0,
        protocol: ip_protocol(sctp),
        ppid: if enrp { ENRP_PPID } else { ASAP_PPID },
    }
}

/// The host's name (for the location), from the kernel.
pub(crate) fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().into())
        .filter(|s: &String| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_has_rsplibs_layout() {
        let r = CspReport {
            status: CspStatus {
                id: component_id(ComponentGroup::PoolElement, 0x1234_5678),
                status: "registered".into(),
                workload: Some(0.5),
                associations: std::vec![to_registrar(7, false, true)],
            },
            location: "host: 10.0.0.1:7000".into(),
            uptime_us: 42,
            interval_us: 1_000_000,
            last: true,
        };
        let b = r.encode();
        assert_eq!(b.len(), CSP_REPORT_SIZE + CSP_ASSOCIATION_SIZE);
        assert_eq!(CSP_REPORT_SIZE, 288);
        assert_eq!(&b[..4], &[1, 1, 0x01, 0x38]);
        assert_eq!(&b[4..8], &[0, 0, 2, 0]);
        assert_eq!(&b[8..16], &0x0200_0000_1234_5678u64.to_be_bytes());
        assert_eq!(&b[16..24], &42u64.to_be_bytes());
        assert_eq!(&b[24..28], &1_000_000u32.to_be_bytes());
        assert_eq!(&b[28..47], b"host: 10.0.0.1:7000");
        assert!(b[47..156].iter().all(|&c| c == 0));
        assert_eq!(&b[156..166], b"registered");
        assert_eq!(&b[284..286], &0x7fffu16.to_be_bytes());
        assert_eq!(&b[286..288], &1u16.to_be_bytes());
        assert_eq!(&b[288..296], &0x0100_0000_0000_0007u64.to_be_bytes());
        assert_eq!(&b[304..306], &0u16.to_be_bytes());
        assert_eq!(&b[306..308], &132u16.to_be_bytes());
        assert_eq!(&b[308..312], &ASAP_PPID.to_be_bytes());
    }

    #[test]
    fn long_texts_are_cut_with_room_for_the_nul() {
        let r = CspReport {
            status: CspStatus {
                id: 1,
                status: "é".repeat(100),
                workload: None,
                associations: Vec::new(),
            },
            location: "x".repeat(300),
            uptime_us: 0,
            interval_us: 0,
            last: false,
        };
        let b = r.encode();
        assert_eq!(b.len(), CSP_REPORT_SIZE);
        assert_eq!(b[28 + 127], 0);
        assert_eq!(b[28 + 126], b'x');
        assert!(core::str::from_utf8(&b[156..156 + 126]).is_ok());
        assert_eq!(&b[284..286], &[0xff, 0xff]);
    }
}
