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
    /// handle). A REGISTRATION that cannot be attributed (no pool handle
    /// parameter, or no readable PE identifier) and all other malformed
    /// input is dropped silently and counted ([`Stats::malformed`]).
    pub(super) fn parse_failed(&mut self, source: Source, bytes: &[u8], e: wire::Error) {
        if let Some(c) = ErrorCause::reporting(&e, bytes) {
            self.send_error(reply_to(source), &[c]);
            return;
        }
        let registration =
            MessageHeader::new_unchecked(bytes).asap_type() == AsapType::Registration;
        if is_invalid_value(&e) && registration && self.reject_invalid_registration(source, bytes) {
            net_debug!("registrar: registration refused: {}", e);
            return;
        }
        if registration && matches!(e, wire::Error::PoolHandle(_)) {
            net_debug!("registrar: registration refused: {}", e);
            self.refuse_pool_handle(source, bytes);
            return;
        }
        net_debug!("registrar: dropped malformed input: {}", e);
        self.stats.malformed += 1;
    }
}
