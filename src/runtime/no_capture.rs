//! What the runtime uses of the pcap writer, for a build without the
//! `capture` feature: a node asked for a capture
//! ([`NodeConfig::capture`](super::NodeConfig::capture)) fails to start
//! with [`io::ErrorKind::Unsupported`], and nothing is ever written.

use std::convert::Infallible;
use std::io::{self, Write};
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::time::SystemTime;

use crate::wire::Protocol;

/// How a message would be carried in a capture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Encapsulation {
    Udp,
    SctpOverUdp,
    Tcp,
    Sctp,
}

/// A capture writer that cannot be made.
pub(crate) struct PcapWriter<W> {
    never: Infallible,
    out: PhantomData<W>,
}

impl<W: Write> PcapWriter<W> {
    pub(crate) fn new(_out: W) -> io::Result<Self> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "captures need rserpool's `capture` feature",
        ))
    }

    pub(crate) fn write(
        &mut self,
        _protocol: Protocol,
        _src: SocketAddr,
        _dst: SocketAddr,
        _timestamp: SystemTime,
        _msg: &[u8],
        _encapsulation: Encapsulation,
    ) -> io::Result<()> {
        let _ = &self.out;
        match self.never {}
    }

    pub(crate) fn flush(&mut self) -> io::Result<()> {
        match self.never {}
    }
}
