//! The runtime over real UDP sockets.

mod amplification;
mod attacks;
mod udp_loopback;
mod udp_multicast_v6;
