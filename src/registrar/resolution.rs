//! ASAP_HANDLE_RESOLUTION (RFC 5352 §3.3).

use super::*;

/// Upper bound of an encoded transport parameter with `addresses` addresses.
pub(super) const fn transport_len(addresses: usize) -> usize {
    12 + 20 * addresses
}

/// Upper bound of an encoded policy parameter.
pub(super) const MAX_POLICY_LEN: usize = 8 + 4 * crate::policy::MAX_POLICY_PARAMS;

/// Upper bound of a Pool Element parameter as the registrar emits it, for
/// transports of at most `addresses` addresses each.
pub(super) const fn pe_param_len(addresses: usize) -> usize {
    16 + 2 * transport_len(addresses) + MAX_POLICY_LEN
}

/// Lower bound of an answer's overall policy and one Pool Element
/// parameter: policy (8), and the PE (16) with a user transport of one
/// IPv4 address (16) and its policy (8).
pub(super) const MIN_ANSWER_PES_LEN: usize = 8 + 16 + 16 + 8;

/// Upper bound of a Pool Element parameter with the most addresses.
pub(super) const MAX_PE_PARAM_LEN: usize = pe_param_len(MAX_TRANSPORT_ADDRESSES);

impl<
        B: Backend,
        S: Storage,
        const OWNED: usize,
        const ASSOCS: usize,
        const QUEUE: usize,
        const EVENTS: usize,
    > Registrar<B, S, OWNED, ASSOCS, QUEUE, EVENTS>
{
    /// ASAP_HANDLE_RESOLUTION (RFC 5352 §3.3): answers with up to
    /// min(Handle Resolution Option item count,
    /// [`RegistrarConfig::max_handle_resolution_items`], [`MAX_RESOLUTION_ITEMS`])
    /// PEs (an option value of 0 or none means "as many as allowed"), selected by
    /// the pool's policy; the response always carries the overall policy (as
    /// rsplib does) and each PE with its user and ASAP transports, and is sent
    /// with A=0 (no dynamic updates). Unknown pool: Unknown Pool Handle. The
    /// answer holds as many of the selected PEs as fit into one message and into
    /// the transmit queue's free room (at least one: room for one PE of the
    /// largest size is required before selecting).
    pub(super) fn on_handle_resolution(
        &mut self,
        source: Source,
        pool_handle: &[u8],
        items: Option<u32>,
    ) -> bool {
        let dest = reply_to(source);
        let Ok(handle) = PoolHandle::new(pool_handle) else {
            self.stats.malformed += 1;
            return false;
        };
        let Some(pool_len) = self.hs.pool(&handle).map(|p| p.len()) else {
            let causes = [ErrorCause::new(CauseCode::UnknownPoolHandle)];
            let msg = AsapMessage::HandleResolutionResponse {
                accept_updates: false,
                pool_handle,
                policy: None,
                elements: List::empty(),
                error: Some(OperationError::new(&causes)),
            };
            return match self.answer(dest, &msg) {
                Answer::Queued => {
                    self.stats.resolutions_unknown_pool += 1;
                    true
                }
                Answer::Withheld => true,
                Answer::Full => {
                    self.event(Event::QueueFull(Blocked::Message(
                        asap_type::HANDLE_RESOLUTION,
                    )));
                    false
                }
            };
        };
        let asked = match items {
            None | Some(0) => u32::MAX,
            Some(n) => n,
        };
        let want = (asked.min(self.config.max_handle_resolution_items) as usize)
            .min(MAX_RESOLUTION_ITEMS)
            .min(pool_len)
            .max(1);
        // Room for an answer with one PE of the largest size is required
        // before anything changes; the answer then carries as many of the
        // selected PEs as the queue takes (at least that one).
        let head = HEADER_LEN + parameter_len(pool_handle.len()) + MAX_POLICY_LEN;
        // An unverified source whose budget cannot take even the smallest
        // answer with one PE is challenged before anything is selected.
        let smallest = HEADER_LEN + parameter_len(pool_handle.len()) + MIN_ANSWER_PES_LEN;
        if !self.answer_fits(dest, smallest) {
            self.withhold();
            return true;
        }
        let largest = pe_param_len(self.hs.widest_transport()).min(MAX_PE_PARAM_LEN);
        if !self.queue.has_room(head + largest) {
            self.blocked(Blocked::Message(asap_type::HANDLE_RESOLUTION));
            return false;
        }
        let mut refs = [PeRef::default(); MAX_RESOLUTION_ITEMS];
        let got = self
            .hs
            .resolve(&handle, want, &mut self.rng, &mut refs[..want])
            .unwrap_or_default();
        let overall = refs[..got]
            .first()
            .and_then(|r| self.hs.get(*r))
            .map(|v| PolicyParam::Known(v.policy()));
        let mut sizes = [0u16; MAX_RESOLUTION_ITEMS];
        let mut len = HEADER_LEN + parameter_len(pool_handle.len());
        len += overall.map_or(0, |p| p.buffer_len());
        let mut count = 0;
        for (r, size) in refs[..got].iter().zip(sizes.iter_mut()) {
            let Some(v) = self.hs.get(*r) else { break };
            let n = with_pe_param(&v, |p| p.buffer_len());
            // One message has a 16-bit length.
            if len + n > usize::from(u16::MAX) {
                break;
            }
            *size = n as u16;
            len += n;
            count += 1;
        }
        while count > 1 && !self.queue.has_room(len) {
            count -= 1;
            len -= usize::from(sizes[count]);
        }
        // Complete or not at all: a source that cannot have the whole
        // answer yet is challenged, not given a part it would take for all.
        if !self.may_answer(dest, len) {
            return true;
        }
        let hs = &self.hs;
        let refs = &refs[..count];
        let written = self.queue.push_with(dest, Protocol::Asap, len, |buf| {
            let mut m = MessageBuilder::asap(buf, AsapType::HandleResolutionResponse, 0)?;
            m.pool_handle(pool_handle)?;
            if let Some(p) = overall {
                m.policy(&p)?;
            }
            for r in refs {
                if let Some(v) = hs.get(*r) {
                    with_pe_param(&v, |p| m.pool_element(p))?;
                }
            }
            m.finish()
        });
        match written {
            Ok(()) => {
                self.stats.resolutions += 1;
                true
            }
            Err(_) => {
                self.blocked(Blocked::Message(asap_type::HANDLE_RESOLUTION));
                false
            }
        }
    }
}
