//! The usrsctp SCTP transport (SCTP over UDP encapsulation) on loopback:
//! the transport alone, then the runtime over it. Every endpoint of this
//! process shares one usrsctp stack on one UDP encapsulation port.

#[path = "../it/support/net.rs"]
mod net_support;

mod loopback;
mod transport;
