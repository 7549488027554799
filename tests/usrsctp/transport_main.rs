//! The usrsctp SCTP transport alone (SCTP over UDP encapsulation) on
//! loopback, in a process (and so a usrsctp stack) of its own.

#[path = "../it/support/net.rs"]
mod net_support;

mod transport;
