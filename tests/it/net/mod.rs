//! The runtime over real UDP sockets.

mod udp_loopback;
mod udp_multicast_v6;
