//! Unknown and malformed ASAP input, and ASAP_ERROR (RFC 5352 §2.2.14,
//! RFC 5354).

use super::*;

/// Whether a parse error says a value is out of range (too many addresses,
/// a bad Transport Use, policy or registration life) rather than that the
/// message is malformed: a REGISTRATION with such a value is answered with
/// Invalid Values.
pub(super) fn is_invalid_value(e: &wire::Error) -> bool {
    matches!(
        e,
        wire::Error::Transport(_)
            | wire::Error::Policy(_)
            | wire::Error::InvalidTransportUse(_)
            | wire::Error::InvalidRegistrationLife(_)
    )
}

/// The most Unrecognized Parameter causes one ASAP_ERROR carries.
pub(super) const MAX_REPORTED_PARAMETERS: usize = 8;

impl<
        B: Backend,
        S: Storage,
        const OWNED: usize,
        const ASSOCS: usize,
        const QUEUE: usize,
        const EVENTS: usize,
    > Registrar<B, S, OWNED, ASSOCS, QUEUE, EVENTS>
{
    /// Reports the "skip and report" parameters of a processed message.
    ///
    /// "Skip and report" parameters (RFC 5354) are reported in an ASAP_ERROR
    /// after the message is processed.
    pub(super) fn report_unrecognized(&mut self, dest: Destination, bytes: &[u8]) {
        let mut causes: [ErrorCause<'_>; MAX_REPORTED_PARAMETERS] =
            [ErrorCause::new(CauseCode::Unspecified); MAX_REPORTED_PARAMETERS];
        let n = ErrorCause::skipped_reports(Protocol::Asap, bytes, &mut causes);
        if n > 0 {
            self.send_error(dest, &causes[..n]);
        }
    }

    /// Queues an ASAP_ERROR with `causes`. Never sent about an ASAP_ERROR.
    pub(super) fn send_error(&mut self, dest: Destination, causes: &[ErrorCause<'_>]) {
        let msg = AsapMessage::Error {
            error: OperationError::new(causes),
        };
        match self.answer(dest, &msg) {
            Answer::Queued => self.stats.errors_sent += 1,
            Answer::Withheld => {}
            Answer::Full => self.event(Event::QueueFull(Blocked::Message(asap_type::ERROR))),
        }
    }

    /// Unknown input (RFC 5354): an unknown message type or a "stop" parameter
    /// whose upper bits ask for a report is answered with ASAP_ERROR
    /// (Unrecognized Message / Unrecognized Parameter). An ASAP_REGISTRATION the
    /// codec refuses for a value (more than [`MAX_TRANSPORT_ADDRESSES`]
    /// addresses, a bad Transport Use, policy or registration life) is rejected
    /// with Invalid Values carrying the Pool Element, so that the PE learns why
    /// (`reject_invalid_registration`). A REGISTRATION whose pool handle is
    /// no pool handle (empty, or over 32 bytes) is answered with an
    /// ASAP_ERROR carrying Invalid Values and the Pool Handle parameter
    /// (`refuse_pool_handle`: a REGISTRATION_RESPONSE must echo a valid
    /// handle). Any other REGISTRATION the codec refuses (a garbled
    /// parameter, say) is rejected the same way when its pool handle and PE
    /// identifier can be read, else answered with an ASAP_ERROR carrying
    /// Invalid Values and what it can point at (the Pool Element
    /// parameter, the Pool Handle parameter, or the message's first bytes):
    /// a REGISTRATION is always answered (RFC 5352 §3.3), unless an unknown
    /// parameter's upper bits ask to discard it silently (RFC 5354). All other
    /// malformed input is dropped silently and counted
    /// ([`Stats::malformed`]).
    pub(super) fn parse_failed(&mut self, source: Source, bytes: &[u8], e: wire::Error) {
        if let Some(c) = ErrorCause::reporting(&e, bytes) {
            self.send_error(reply_to(source), &[c]);
            return;
        }
        // A REGISTRATION: a whole common header naming the type. An unknown
        // parameter whose upper bits say "stop, discard" (00) is discarded
        // silently, as RFC 5354 §2.2 asks.
        let registration = bytes.len() >= HEADER_LEN
            && MessageHeader::new_unchecked(bytes).asap_type() == AsapType::Registration
            && !matches!(e, wire::Error::UnrecognizedParameter { .. });
        if registration && matches!(e, wire::Error::PoolHandle(_)) {
            net_debug!("registrar: registration refused: {}", e);
            self.refuse_pool_handle(source, bytes);
            return;
        }
        if registration {
            net_debug!("registrar: registration refused: {}", e);
            if !is_invalid_value(&e) {
                self.stats.malformed += 1;
            }
            if !self.reject_invalid_registration(source, bytes) {
                self.refuse_unattributable(source, bytes);
            }
            return;
        }
        net_debug!("registrar: dropped malformed input: {}", e);
        self.stats.malformed += 1;
    }
}
