//! The runtime over the usrsctp SCTP transport (SCTP over UDP
//! encapsulation) on loopback. Every endpoint of this process shares one
//! usrsctp stack on one UDP encapsulation port; the transport's own tests
//! are a process of their own (`usrsctp_transport`), so that the runtime's
//! bulk traffic here never delays the association events they time.

#[path = "../it/support/net.rs"]
mod net_support;

mod loopback;
