//! Initialisation (RFC 5353 §3.1-§3.2): finding a mentor and downloading
//! its handle table.

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
    /// Starts ENRP at the first input.
    pub(super) fn enrp_start(&mut self, now: Instant) {
        if !matches!(self.enrp.init, Init::NotStarted) {
            return;
        }
        // A registrar built by `new_const` meets its static peers here.
        self.enrp.add_configured(&self.config.enrp);
        self.enrp.next_heartbeat = now;
        if self.enrp.peers.iter().any(|p| p.configured) {
            self.enrp.init = Init::Discovery {
                until: now + self.config.enrp.mentor_discovery_timeout,
                retry_at: now,
                skip: None,
            };
        } else {
            self.finish_init(None);
        }
    }

    pub(super) fn finish_init(&mut self, mentor: Option<ServerId>) {
        self.enrp.init = Init::Done;
        let pes = self.hs.len();
        self.enrp_event(EnrpEvent::InitialisationDone { mentor, pes });
    }

    /// Sends LIST_REQUEST to the first configured peer that is up and not
    /// waiting out a rejection (another than `skip` if possible); with none,
    /// waits until the first such wait ends (or a peer comes up).
    pub(super) fn try_mentor(&mut self, now: Instant) {
        let Init::Discovery { until, skip, .. } = self.enrp.init else {
            return;
        };
        let up = |p: &&Peer| p.configured && p.assoc.is_some();
        let ready = |p: &&Peer| up(p) && p.list_retry_at <= now;
        let pick = self
            .enrp
            .peers
            .iter()
            .filter(ready)
            .find(|p| p.assoc != skip)
            .or_else(|| self.enrp.peers.iter().find(ready))
            .map(|p| (p.assoc, p.server_id));
        let Some((Some(mentor), id)) = pick else {
            let retry_at = self
                .enrp
                .peers
                .iter()
                .filter(up)
                .map(|p| p.list_retry_at)
                .min()
                .unwrap_or(Instant::MAX);
            self.enrp.init = Init::Discovery {
                until,
                retry_at,
                skip,
            };
            return;
        };
        self.simple(Destination::Association(mentor), id, EnrpBody::ListRequest);
        self.enrp.init = Init::Listing {
            mentor,
            deadline: now + self.config.enrp.max_time_no_response,
            until,
        };
    }

    pub(super) fn mentor_failed(&mut self, now: Instant, mentor: AssocId) {
        let until = match self.enrp.init {
            Init::Listing { until, .. } => until,
            Init::Downloading { mentor_id, .. } => {
                // Keep what was downloaded; audits repair the rest.
                self.finish_init(mentor_id);
                return;
            }
            _ => return,
        };
        self.mentor_backoff(now, mentor, until);
    }

    /// The mentor on `mentor` rejected or did not answer a LIST_REQUEST: it
    /// is not asked again for [`EnrpConfig::mentor_retry_interval`]; the
    /// next configured peer that is up is tried at once.
    pub(in crate::registrar) fn mentor_backoff(
        &mut self,
        now: Instant,
        mentor: AssocId,
        until: Instant,
    ) {
        let again = now.saturating_add(self.config.enrp.mentor_retry_interval);
        for p in self.enrp.peers.iter_mut() {
            if p.assoc == Some(mentor) {
                p.list_retry_at = again;
            }
        }
        self.enrp.init = Init::Discovery {
            until,
            retry_at: now,
            skip: Some(mentor),
        };
        self.try_mentor(now);
    }
}
