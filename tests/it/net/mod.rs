//! The runtime and the transports over real sockets.

mod amplification;
mod attacks;
mod calcapp;
mod csp;
mod element_api;
#[cfg(feature = "tokio")]
mod node_bounds;
mod pool_user_api;
mod registrar_api;
mod services;
#[cfg(feature = "http")]
mod status_http;
#[cfg(feature = "tls")]
mod tls;
#[cfg(feature = "tokio")]
mod tokio_tcp;
#[cfg(feature = "tokio")]
mod tokio_udp;
mod udp_loopback;
mod udp_multicast_v6;
