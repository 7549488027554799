//! The reader thread of [`KernelSctp`](super::KernelSctp): reads with
//! `recvmsg`, puts messages delivered in parts back together, and turns
//! notifications into association events.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::vec::Vec;

use super::layout::{self, Notification, RcvInfo, SndInfo};
use super::{
    assoc_id, sys, Assoc, Shared, State, MAX_PARTIAL_MESSAGES, MAX_PEER_ADDRESSES,
    NOTIFICATION_KEEP, READ_BATCH, READ_CHUNK,
};
use crate::transport::sctp::{EventSink, RecvInfo, SctpEvent};

/// A message being put together from parts.
#[derive(Debug)]
pub(super) struct Partial {
    pub(super) remote: Option<SocketAddr>,
    pub(super) info: RcvInfo,
    pub(super) bytes: Vec<u8>,
    /// Over the limit (or no room): the rest is read and dropped.
    pub(super) dropping: bool,
}

/// Messages the kernel delivers in parts (partial delivery, or larger than
/// one read), put back together per association: at most
/// `max_message_size` bytes each and at most [`MAX_PARTIAL_MESSAGES`]
/// holding bytes at once; a message beyond either is dropped whole.
#[derive(Debug)]
pub(super) struct Reassembly {
    pub(super) max_message_size: usize,
    pub(super) partial: HashMap<i32, Partial>,
}

impl Reassembly {
    pub(super) fn new(max_message_size: usize) -> Self {
        Reassembly {
            max_message_size,
            partial: HashMap::new(),
        }
    }

    /// Takes one part (`eor`: the last); returns the whole message when
    /// complete.
    pub(super) fn push(
        &mut self,
        info: RcvInfo,
        from: Option<SocketAddr>,
        data: &[u8],
        eor: bool,
    ) -> Option<Partial> {
        let holding = self.partial.values().filter(|p| !p.dropping).count();
        let mut part = self.partial.remove(&info.assoc_id).unwrap_or(Partial {
            remote: from,
            info,
            bytes: Vec::new(),
            dropping: !eor && holding >= MAX_PARTIAL_MESSAGES,
        });
        if !part.dropping && part.bytes.len() + data.len() <= self.max_message_size {
            part.bytes.extend_from_slice(data);
        } else {
            part.dropping = true;
            part.bytes = Vec::new();
        }
        if !eor {
            self.partial.insert(info.assoc_id, part);
            return None;
        }
        if part.dropping {
            net_warn!(
                "sctp-kernel: message over {} bytes (or too many in parts) dropped",
                self.max_message_size
            );
            return None;
        }
        Some(part)
    }

    /// Forgets the parts of an association that is gone.
    pub(super) fn forget(&mut self, assoc_id: i32) {
        self.partial.remove(&assoc_id);
    }
}

/// The reader thread.
pub(super) struct Reader {
    pub(super) shared: Arc<Shared>,
    pub(super) sink: EventSink,
    pub(super) buf: Vec<u8>,
    pub(super) control: sys::ControlBuf,
    pub(super) reassembly: Reassembly,
    /// A notification read in parts (kept up to NOTIFICATION_KEEP bytes).
    pub(super) notification: Vec<u8>,
    pub(super) events: Vec<SctpEvent>,
}

impl Reader {
    pub(super) fn new(shared: Arc<Shared>, sink: EventSink, max_message_size: usize) -> Self {
        Reader {
            shared,
            sink,
            buf: std::vec![0; READ_CHUNK],
            control: sys::ControlBuf([0; layout::RECV_CMSG_SPACE]),
            reassembly: Reassembly::new(max_message_size),
            notification: Vec::new(),
            events: Vec::new(),
        }
    }

    pub(super) fn run(mut self) {
        let mut errors = 0u32;
        loop {
            match sys::poll(&self.shared.socket, &self.shared.waker, -1) {
                Ok(r) if r.woken => return,
                Ok(r) if !r.socket => continue,
                Ok(_) => {}
                Err(e) => {
                    net_error!(
                        "sctp-kernel: poll failed: {}",
                        e.raw_os_error().unwrap_or(0)
                    );
                    return;
                }
            }
            if !self.read_some(&mut errors) {
                return;
            }
        }
    }

    /// Reads what is there (non-blocking), at most [`READ_BATCH`] messages
    /// before the caller polls (and sees the waker) again; `false` when the
    /// sink stopped listening.
    pub(super) fn read_some(&mut self, errors: &mut u32) -> bool {
        for _ in 0..READ_BATCH {
            match self.shared.socket.recv(&mut self.buf, &mut self.control) {
                Ok(r) => {
                    *errors = 0;
                    self.received(r);
                    if !self.flush() {
                        return false;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // A pending socket error is reported once; a
                    // persistent one is not spun on.
                    net_debug!("sctp-kernel: recvmsg: {}", e.raw_os_error().unwrap_or(0));
                    *errors += 1;
                    if *errors > 3 {
                        std::thread::sleep(std::time::Duration::from_millis(10));
                    }
                    break;
                }
            }
        }
        true
    }

    /// Hands the queued events to the sink; `false` when it stopped
    /// listening.
    pub(super) fn flush(&mut self) -> bool {
        for e in self.events.drain(..) {
            if !(self.sink)(e) {
                return false;
            }
        }
        true
    }

    pub(super) fn received(&mut self, r: sys::Received) {
        let eor = r.flags & libc::MSG_EOR != 0;
        if r.flags & layout::MSG_NOTIFICATION != 0 {
            let room = NOTIFICATION_KEEP.saturating_sub(self.notification.len());
            self.notification
                .extend_from_slice(&self.buf[..r.len.min(room)]);
            if eor {
                let bytes = core::mem::take(&mut self.notification);
                match layout::parse_notification(&bytes) {
                    Some(n) => self.notified(n),
                    None => net_debug!("sctp-kernel: malformed notification"),
                }
            }
            return;
        }
        let Some(info) = layout::decode_rcvinfo(&self.control.0[..r.control_len]) else {
            net_debug!("sctp-kernel: message without SCTP_RCVINFO dropped");
            return;
        };
        let Some(part) = self.reassembly.push(info, r.from, &self.buf[..r.len], eor) else {
            return;
        };
        let Some(assoc) = assoc_id(part.info.assoc_id) else {
            return;
        };
        // Messages of associations not (or no longer) up are dropped.
        let remote = match self.shared.state().assocs.get(&part.info.assoc_id) {
            Some(a) if !a.connecting => part.remote.unwrap_or(a.remote),
            _ => return,
        };
        self.events.push(SctpEvent::Message {
            assoc,
            remote,
            info: RecvInfo {
                ppid: part.info.ppid,
                stream: part.info.sid,
                unordered: part.info.flags & layout::SCTP_UNORDERED != 0,
            },
            bytes: part.bytes,
        });
    }

    pub(super) fn notified(&mut self, n: Notification) {
        let remotes = match n {
            Notification::AssocChange {
                state: layout::SCTP_COMM_UP | layout::SCTP_RESTART,
                assoc_id: id,
            } if assoc_id(id).is_some() => self
                .shared
                .socket
                .peer_addrs(id, MAX_PEER_ADDRESSES)
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        let fx = self.shared.state().apply(n, remotes, &mut self.events);
        if let Some(id) = fx.forget {
            self.reassembly.forget(id);
        }
        if let Some(id) = fx.abort {
            net_warn!("sctp-kernel: association id {} out of range, aborted", id);
            let _ = self.shared.socket.send(
                &SndInfo {
                    sid: 0,
                    flags: layout::SCTP_ABORT,
                    ppid: 0,
                    assoc_id: id,
                },
                &[],
            );
        }
    }
}

/// What the reader does about a notification besides reporting events.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Effects {
    /// Forget the parts of a message of this association.
    pub(super) forget: Option<i32>,
    /// Abort this association (its id does not fit an [`AssocId`](crate::id::AssocId)).
    pub(super) abort: Option<i32>,
}

impl State {
    /// What a notification means: the events to report (into `events`) and
    /// the bookkeeping. `remotes` are the peer's addresses for an
    /// association coming up.
    pub(super) fn apply(
        &mut self,
        n: Notification,
        remotes: Vec<SocketAddr>,
        events: &mut Vec<SctpEvent>,
    ) -> Effects {
        match n {
            Notification::AssocChange {
                state,
                assoc_id: id,
            } => match state {
                layout::SCTP_COMM_UP => self.up(id, false, remotes, events),
                layout::SCTP_RESTART => self.up(id, true, remotes, events),
                layout::SCTP_COMM_LOST
                | layout::SCTP_SHUTDOWN_COMP
                | layout::SCTP_CANT_STR_ASSOC => self.down(id, events),
                _ => Effects::default(),
            },
            Notification::Shutdown { assoc_id: id } => self.down(id, events),
            Notification::SendFailed { assoc_id: id } => {
                // Only while the association is known: the messages lost
                // with an association that went down are implied by Down.
                if let (true, Some(assoc)) = (self.assocs.contains_key(&id), assoc_id(id)) {
                    events.push(SctpEvent::SendFailed { assoc });
                }
                Effects::default()
            }
            Notification::PartialDeliveryAborted { assoc_id: id } => Effects {
                forget: Some(id),
                abort: None,
            },
            Notification::Other(_) => Effects::default(),
        }
    }

    /// The association is up (or restarted).
    pub(super) fn up(
        &mut self,
        id: i32,
        restart: bool,
        remotes: Vec<SocketAddr>,
        events: &mut Vec<SctpEvent>,
    ) -> Effects {
        let Some(assoc) = assoc_id(id) else {
            return Effects {
                forget: None,
                abort: Some(id),
            };
        };
        let known = self.assocs.get(&id).cloned();
        let remote = match (&known, remotes.first()) {
            // Opened here: the first address asked for.
            (Some(a), _) if a.connecting => a.remote,
            (_, Some(&r)) => r,
            (Some(a), None) => a.remote,
            (None, None) => {
                net_debug!("sctp-kernel: association without peer address ignored");
                return Effects::default();
            }
        };
        let mut fx = Effects::default();
        if restart {
            if known.is_none() {
                // Closed or aborted here: not reported any more.
                return fx;
            }
            events.push(SctpEvent::Down { assoc });
            fx.forget = Some(id);
        }
        self.assocs.insert(
            id,
            Assoc {
                remote,
                connecting: false,
            },
        );
        let remotes = if remotes.is_empty() {
            std::vec![remote]
        } else {
            remotes
        };
        events.push(SctpEvent::Up {
            assoc,
            remote,
            remotes,
        });
        fx
    }

    /// The association is gone (or never came up).
    pub(super) fn down(&mut self, id: i32, events: &mut Vec<SctpEvent>) -> Effects {
        let fx = Effects {
            forget: Some(id),
            abort: None,
        };
        let (Some(a), Some(assoc)) = (self.assocs.remove(&id), assoc_id(id)) else {
            return fx;
        };
        events.push(if a.connecting {
            SctpEvent::ConnectFailed {
                assoc,
                remote: a.remote,
            }
        } else {
            SctpEvent::Down { assoc }
        });
        fx
    }
}
