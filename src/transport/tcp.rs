//! ASAP over TCP between pool users and registrars (RFC 5352 allows a
//! pool user to reach its registrar over TCP), on port [`ASAP_PORT`]
//! (3863) by default.
//!
//! Each connection is one association (reported up when it is accepted or
//! connected, down when it closes or fails). Messages are framed by the
//! ASAP common header's own Message Length (bytes 2..4, the whole message
//! including the header): a reader thread per connection reads the 4-byte
//! header, then the rest. A length below 4 ends the connection (the
//! stream cannot be resynchronised); a message is at most 65,535 bytes,
//! so a reader never holds more than one such buffer.
//!
//! [`ASAP_PORT`]: crate::wire::ASAP_PORT

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;
use std::vec::Vec;

use crate::id::AssocId;

/// Association identifiers of TCP connections have this bit set, so that
/// they never collide with the UDP transport's.
pub const TCP_ASSOC_BIT: u32 = 0x8000_0000;

/// How long a blocking write or connect may take before the connection is
/// given up.
pub const IO_TIMEOUT: Duration = Duration::from_secs(2);

/// What a TCP reader reports.
#[derive(Debug)]
pub enum StreamEvent {
    /// A connection was accepted on a listener.
    Accepted {
        /// Its association.
        assoc: AssocId,
        /// The peer.
        remote: SocketAddr,
    },
    /// One whole ASAP message.
    Message {
        /// Its association.
        assoc: AssocId,
        /// The message.
        bytes: Vec<u8>,
    },
    /// The connection closed or failed.
    Closed {
        /// Its association.
        assoc: AssocId,
    },
}

struct Shared {
    next_id: u32,
    streams: HashMap<AssocId, (TcpStream, SocketAddr, SocketAddr)>,
}

/// See the [module](self) documentation.
pub struct TcpTransport {
    shared: Arc<Mutex<Shared>>,
    stop: Arc<AtomicBool>,
    listeners: Vec<(SocketAddr, JoinHandle<()>)>,
    readers: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl core::fmt::Debug for TcpTransport {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TcpTransport")
            .field("listeners", &self.listeners.len())
            .finish()
    }
}

impl Default for TcpTransport {
    fn default() -> Self {
        Self::new()
    }
}

fn lock(m: &Mutex<Shared>) -> std::sync::MutexGuard<'_, Shared> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn new_id(s: &mut Shared) -> AssocId {
    loop {
        let id = AssocId(TCP_ASSOC_BIT | (s.next_id & !TCP_ASSOC_BIT));
        s.next_id = s.next_id.wrapping_add(1) & !TCP_ASSOC_BIT;
        if s.next_id == 0 {
            s.next_id = 1;
        }
        if !s.streams.contains_key(&id) {
            return id;
        }
    }
}

/// Whether `assoc` is one of this transport's.
pub fn is_tcp(assoc: AssocId) -> bool {
    assoc.0 & TCP_ASSOC_BIT != 0
}

/// Reads whole ASAP messages from `stream` until it ends.
fn read_messages<T>(
    mut stream: TcpStream,
    assoc: AssocId,
    input: SyncSender<T>,
    wrap: fn(StreamEvent) -> T,
) {
    loop {
        let mut header = [0u8; 4];
        if stream.read_exact(&mut header).is_err() {
            break;
        }
        let len = usize::from(crate::wire::MessageHeader::new_unchecked(&header).length());
        if len < 4 {
            break;
        }
        // The sender pads every message to a multiple of 4 (RFC 5354 §2);
        // a Message Length that leaves the padding out (the RFC's nesting
        // convention) still has it on the stream, so read it too: the
        // parser ignores up to 3 bytes of padding after the message.
        let mut bytes = std::vec![0u8; crate::wire::padded(len)];
        bytes[..4].copy_from_slice(&header);
        if stream.read_exact(&mut bytes[4..]).is_err() {
            break;
        }
        if input
            .send(wrap(StreamEvent::Message { assoc, bytes }))
            .is_err()
        {
            return;
        }
    }
    let _ = input.send(wrap(StreamEvent::Closed { assoc }));
}

impl TcpTransport {
    /// A transport with no listener and no connection.
    pub fn new() -> Self {
        TcpTransport {
            shared: Arc::new(Mutex::new(Shared {
                next_id: 1,
                streams: HashMap::new(),
            })),
            stop: Arc::new(AtomicBool::new(false)),
            listeners: Vec::new(),
            readers: Arc::new(Mutex::new(Vec::new())),
        }
    }

    fn start_reader<T: Send + 'static>(
        readers: &Mutex<Vec<JoinHandle<()>>>,
        stream: &TcpStream,
        assoc: AssocId,
        input: SyncSender<T>,
        wrap: fn(StreamEvent) -> T,
    ) -> io::Result<()> {
        let reader = stream.try_clone()?;
        let h = std::thread::Builder::new()
            .name(std::format!("tcp {}", assoc.0 & !TCP_ASSOC_BIT))
            .spawn(move || read_messages(reader, assoc, input, wrap))?;
        let mut r = readers.lock().unwrap_or_else(|p| p.into_inner());
        r.retain(|h| !h.is_finished());
        r.push(h);
        Ok(())
    }

    /// Listens at `addr`; accepted connections are reported into `input`.
    /// Returns the bound address.
    pub fn listen<T: Send + 'static>(
        &mut self,
        addr: SocketAddr,
        input: SyncSender<T>,
        wrap: fn(StreamEvent) -> T,
    ) -> io::Result<SocketAddr> {
        let listener = TcpListener::bind(addr)?;
        let local = listener.local_addr()?;
        let shared = self.shared.clone();
        let stop = self.stop.clone();
        let readers = self.readers.clone();
        let h = std::thread::Builder::new()
            .name(std::format!("tcp listen {local}"))
            .spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::Acquire) {
                        break;
                    }
                    let Ok(stream) = conn else { continue };
                    let Ok(remote) = stream.peer_addr() else {
                        continue;
                    };
                    let _ = stream.set_write_timeout(Some(IO_TIMEOUT));
                    let _ = stream.set_nodelay(true);
                    let Ok(writer) = stream.try_clone() else {
                        continue;
                    };
                    let assoc = {
                        let mut s = lock(&shared);
                        let id = new_id(&mut s);
                        s.streams.insert(id, (writer, local, remote));
                        id
                    };
                    if input
                        .send(wrap(StreamEvent::Accepted { assoc, remote }))
                        .is_err()
                    {
                        break;
                    }
                    if Self::start_reader(&readers, &stream, assoc, input.clone(), wrap).is_err() {
                        lock(&shared).streams.remove(&assoc);
                        let _ = input.send(wrap(StreamEvent::Closed { assoc }));
                    }
                }
            })?;
        self.listeners.push((local, h));
        Ok(local)
    }

    /// Connects to `remote` (blocking, at most [`IO_TIMEOUT`]); messages
    /// from it are reported into `input`.
    pub fn connect<T: Send + 'static>(
        &mut self,
        remote: SocketAddr,
        input: SyncSender<T>,
        wrap: fn(StreamEvent) -> T,
    ) -> io::Result<AssocId> {
        let stream = TcpStream::connect_timeout(&remote, IO_TIMEOUT)?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        stream.set_nodelay(true)?;
        let local = stream.local_addr()?;
        let assoc = {
            let mut s = lock(&self.shared);
            let id = new_id(&mut s);
            s.streams.insert(id, (stream.try_clone()?, local, remote));
            id
        };
        if let Err(e) = Self::start_reader(&self.readers, &stream, assoc, input, wrap) {
            lock(&self.shared).streams.remove(&assoc);
            return Err(e);
        }
        Ok(assoc)
    }

    /// Sends one message on `assoc`. On failure the connection is shut
    /// down (its reader then reports it closed).
    pub fn send(&mut self, assoc: AssocId, msg: &[u8]) -> bool {
        let mut s = lock(&self.shared);
        let Some((stream, _, _)) = s.streams.get_mut(&assoc) else {
            return false;
        };
        if stream.write_all(msg).is_err() {
            let _ = stream.shutdown(Shutdown::Both);
            s.streams.remove(&assoc);
            return false;
        }
        true
    }

    /// The (local, remote) addresses of `assoc`.
    pub fn addresses(&self, assoc: AssocId) -> Option<(SocketAddr, SocketAddr)> {
        lock(&self.shared)
            .streams
            .get(&assoc)
            .map(|(_, l, r)| (*l, *r))
    }

    /// The number of open connections.
    pub fn connection_count(&self) -> usize {
        lock(&self.shared).streams.len()
    }

    /// Closes `assoc` (its reader reports it closed).
    pub fn close(&mut self, assoc: AssocId) {
        if let Some((stream, _, _)) = lock(&self.shared).streams.remove(&assoc) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    /// Forgets `assoc` after its reader reported it closed.
    pub fn forget(&mut self, assoc: AssocId) {
        lock(&self.shared).streams.remove(&assoc);
    }

    /// Closes everything and waits for the threads.
    pub fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Release);
        for (_, (stream, _, _)) in lock(&self.shared).streams.drain() {
            let _ = stream.shutdown(Shutdown::Both);
        }
        for (mut local, h) in self.listeners.drain(..) {
            // Wakes the accept loop.
            if local.ip().is_unspecified() {
                local.set_ip(match local {
                    SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                    SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
                });
            }
            let _ = TcpStream::connect_timeout(&local, IO_TIMEOUT);
            let _ = h.join();
        }
        // Connections accepted while stopping.
        for (_, (stream, _, _)) in lock(&self.shared).streams.drain() {
            let _ = stream.shutdown(Shutdown::Both);
        }
        let readers = core::mem::take(&mut *self.readers.lock().unwrap_or_else(|p| p.into_inner()));
        for h in readers {
            let _ = h.join();
        }
    }
}

impl Drop for TcpTransport {
    fn drop(&mut self) {
        self.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::TcpListener;
    use std::sync::mpsc::sync_channel;

    #[test]
    fn messages_whose_length_leaves_out_the_padding_stay_framed() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut client = TcpStream::connect(addr).unwrap();
        let (server, _) = listener.accept().unwrap();
        // Two ASAP_COOKIEs with a 1-byte cookie: Message Length 9, padded to 12.
        let cookie = |c: u8| [0x0B, 0, 0, 9, 0, 0x0D, 0, 5, c, 0, 0, 0];
        client.write_all(&cookie(b'a')).unwrap();
        client.write_all(&cookie(b'b')).unwrap();
        drop(client);
        let (tx, rx) = sync_channel(4);
        read_messages(server, AssocId(7), tx, |e| e);
        let got: std::vec::Vec<_> = rx
            .try_iter()
            .filter_map(|e| match e {
                StreamEvent::Message { bytes, .. } => Some(bytes),
                _ => None,
            })
            .collect();
        assert_eq!(got.len(), 2);
        for (m, c) in got.iter().zip([b"a", b"b"]) {
            assert_eq!(
                crate::wire::AsapMessage::parse(m).unwrap(),
                crate::wire::AsapMessage::Cookie { cookie: c }
            );
        }
    }
}
