//! The ASAP (RFC 5352) and ENRP (RFC 5353) wire codec with the parameters of
//! RFC 5354.
#[cfg(feature = "std")]
pub mod pcap;
