//! Answers to ASAP messages that cannot be used: an ASAP_ERROR when the
//! upper bits of an unknown message or parameter type ask for a report
//! (RFC 5354 §2-§3), silence otherwise.

use crate::transmit::{Destination, QueueError, TransmitQueue};
use crate::wire::{self, AsapMessage, ErrorCause, OperationError};

/// Queues the ASAP_ERROR that `error` (from parsing `bytes`) calls for, if
/// any. Returns whether one was queued.
pub(crate) fn answer_parse_error<const B: usize, const E: usize>(
    tx: &mut TransmitQueue<B, E>,
    destination: Destination,
    bytes: &[u8],
    error: &wire::Error,
) -> Result<bool, QueueError> {
    let cause = match *error {
        wire::Error::UnrecognizedMessage { action, .. } if action.reports() => {
            match error.offending_bytes(bytes) {
                Some(b) => ErrorCause::unrecognized_message(b),
                None => return Ok(false),
            }
        }
        wire::Error::UnrecognizedParameter { action, .. } if action.reports() => {
            match error.offending_bytes(bytes) {
                Some(b) => ErrorCause::unrecognized_parameter(b),
                None => return Ok(false),
            }
        }
        _ => return Ok(false),
    };
    let causes = [cause];
    let message = AsapMessage::Error {
        error: OperationError::new(&causes),
    };
    tx.push_asap(destination, &message)?;
    Ok(true)
}

/// The most Unrecognized Parameter causes put into one ASAP_ERROR.
const MAX_REPORTED_PARAMETERS: usize = 8;

/// After a successful parse: queues one ASAP_ERROR listing the skipped
/// parameters whose type bits ask for a report (`11`), if any (never in
/// answer to an ASAP_ERROR). Returns whether one was queued.
pub(crate) fn answer_skipped_parameters<const B: usize, const E: usize>(
    tx: &mut TransmitQueue<B, E>,
    destination: Destination,
    bytes: &[u8],
    message: &AsapMessage<'_>,
) -> Result<bool, QueueError> {
    if matches!(message, AsapMessage::Error { .. }) {
        return Ok(false);
    }
    let mut causes: heapless::Vec<ErrorCause<'_>, MAX_REPORTED_PARAMETERS> = heapless::Vec::new();
    for u in wire::unrecognized_parameters(wire::Protocol::Asap, bytes) {
        if u.action.reports()
            && causes
                .push(ErrorCause::unrecognized_parameter(u.tlv))
                .is_err()
        {
            break;
        }
    }
    if causes.is_empty() {
        return Ok(false);
    }
    let message = AsapMessage::Error {
        error: OperationError::new(&causes),
    };
    tx.push_asap(destination, &message)?;
    Ok(true)
}

/// The first cause code of an optional Operation Error.
pub(crate) fn first_cause(error: &Option<OperationError<'_>>) -> Option<crate::CauseCode> {
    error.as_ref().and_then(|e| e.code())
}
