//! The ENRP timers: heartbeats, peer timeouts, initialisation and session
//! deadlines.

use super::*;

impl<
        B: Backend,
        S: Storage,
        const OWNED: usize,
        const ASSOCS: usize,
        const QUEUE: usize,
        const EVENTS: usize,
    > Registrar<B, S, OWNED, ASSOCS, QUEUE, EVENTS>
{
    /// When ENRP next needs `handle_timeout`.
    pub(in crate::registrar) fn enrp_poll_timeout(&self) -> Option<Instant> {
        if !self.config.enrp.enabled {
            return None;
        }
        let c = &self.config.enrp;
        let e = &self.enrp;
        let mut t = match e.init {
            Init::NotStarted => return Some(Instant::ZERO),
            Init::Discovery {
                until, retry_at, ..
            } => until.min(retry_at),
            Init::Listing {
                deadline, until, ..
            } => deadline.min(until),
            Init::Downloading { deadline, .. } => deadline,
            Init::Done => Instant::MAX,
        };
        t = t.min(e.next_heartbeat);
        for p in e.peers.iter() {
            let due = match p.state {
                PeerState::Alive => p.last_heard.saturating_add(c.max_time_last_heard),
                PeerState::Probing { since } => since.saturating_add(c.max_time_no_response),
                PeerState::Dead { takeover_at } => {
                    let running = p
                        .server_id
                        .is_some_and(|id| e.takeovers.iter().any(|x| x.target == id));
                    if running {
                        Instant::MAX
                    } else {
                        takeover_at
                    }
                }
                PeerState::Connecting => Instant::MAX,
            };
            t = t.min(due);
        }
        for s in e.sessions.iter() {
            t = t.min(s.deadline);
        }
        for x in e.takeovers.iter() {
            t = t.min(x.deadline);
        }
        Some(t)
    }

    /// Runs the due ENRP timers.
    pub(in crate::registrar) fn enrp_timeout(&mut self, now: Instant) {
        if !self.config.enrp.enabled {
            return;
        }
        self.enrp_start(now);
        match self.enrp.init {
            Init::Discovery {
                until, retry_at, ..
            } => {
                if now >= until {
                    self.finish_init(None);
                } else if now >= retry_at {
                    self.try_mentor(now);
                }
            }
            Init::Listing {
                mentor,
                deadline,
                until,
            } => {
                if now >= until {
                    self.finish_init(None);
                } else if now >= deadline {
                    self.mentor_failed(now, mentor);
                }
            }
            Init::Downloading {
                mentor_id,
                deadline,
                ..
            } if now >= deadline => {
                self.finish_init(mentor_id);
            }
            _ => {}
        }
        if now >= self.enrp.next_heartbeat {
            self.presence_groupcast();
            for p in self.enrp.peers.iter_mut() {
                if p.address.is_some() && p.assoc.is_none() && !p.connecting {
                    p.wants_connect = true;
                }
            }
            self.enrp.next_heartbeat = now + self.config.enrp.peer_heartbeat_cycle;
        }
        let (mtlh, mtnr) = (
            self.config.enrp.max_time_last_heard,
            self.config.enrp.max_time_no_response,
        );
        let mut dead: Vec<ServerId, MAX_PEERS> = Vec::new();
        let mut due: Vec<ServerId, MAX_PEERS> = Vec::new();
        for i in 0..self.enrp.peers.len() {
            let p = self.enrp.peers[i];
            let Some(id) = p.server_id else {
                continue;
            };
            match p.state {
                PeerState::Alive if now >= p.last_heard.saturating_add(mtlh) => match p.assoc {
                    Some(a) => {
                        self.presence_to(Destination::Association(a), Some(id), true);
                        self.enrp.peers[i].state = PeerState::Probing { since: now };
                    }
                    None => {
                        let _ = dead.push(id);
                    }
                },
                PeerState::Probing { since } if now >= since.saturating_add(mtnr) => {
                    let _ = dead.push(id);
                }
                // Known by id (from a peer list) but never reached: dead
                // like a silent peer, so that the PEs the handle table
                // gave it are taken over (its association may never come
                // up: it died before this registrar started).
                PeerState::Connecting if now >= p.last_heard.saturating_add(mtlh) => {
                    let _ = dead.push(id);
                }
                PeerState::Dead { takeover_at } if now >= takeover_at => {
                    let _ = due.push(id);
                }
                _ => {}
            }
        }
        for id in dead {
            self.declare_dead(now, id);
        }
        // Dead peers whose takeover is due.
        for id in due {
            if !self.enrp.takeovers.iter().any(|t| t.target == id) {
                self.start_takeover(now, id);
            }
        }
        // Stalled sessions.
        let before = self.enrp.sessions.len();
        self.enrp.sessions.retain(|s| s.deadline > now);
        self.enrp.stats.sessions_timed_out += (before - self.enrp.sessions.len()) as u64;
        // Expired takeovers start again.
        let mut k = 0;
        while k < self.enrp.takeovers.len() {
            if self.enrp.takeovers[k].deadline <= now {
                let target = self.enrp.takeovers[k].target;
                self.enrp.takeovers.swap_remove(k);
                self.enrp.stats.takeovers_expired += 1;
                self.start_takeover(now, target);
            } else {
                k += 1;
            }
        }
    }
}
