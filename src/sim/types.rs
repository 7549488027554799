//! The simulator's node numbers and message kinds.

use std::fmt;

use crate::wire::{Protocol, ASAP_PPID, ENRP_PPID};

/// A node's index in the [`World`](super::World).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(pub usize);

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "n{}", self.0)
    }
}

/// What a message on the virtual network carries, by its PPID: ASAP (11),
/// ENRP (12), or user data between a pool user and a pool element (any
/// other PPID).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Payload {
    /// An ASAP message.
    Asap,
    /// An ENRP message.
    Enrp,
    /// User data with its PPID.
    Data(u32),
}

impl From<Protocol> for Payload {
    fn from(p: Protocol) -> Self {
        match p {
            Protocol::Asap => Payload::Asap,
            Protocol::Enrp => Payload::Enrp,
        }
    }
}

impl Payload {
    /// The kind of a message with `ppid`.
    pub const fn of(ppid: u32) -> Self {
        match ppid {
            ASAP_PPID => Payload::Asap,
            ENRP_PPID => Payload::Enrp,
            other => Payload::Data(other),
        }
    }
    /// Its PPID.
    pub const fn ppid(self) -> u32 {
        match self {
            Payload::Asap => ASAP_PPID,
            Payload::Enrp => ENRP_PPID,
            Payload::Data(p) => p,
        }
    }
    /// The protocol a machine is given, or `None` for user data.
    pub const fn protocol(self) -> Option<Protocol> {
        match self {
            Payload::Asap => Some(Protocol::Asap),
            Payload::Enrp => Some(Protocol::Enrp),
            Payload::Data(_) => None,
        }
    }
}
