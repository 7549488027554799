//! Answers to ASAP messages that cannot be used: an ASAP_ERROR when the
//! upper bits of an unknown message or parameter type ask for a report
//! (RFC 5354 §2-§3), silence otherwise.

use crate::transmit::{Destination, Source, TransmitQueue};
use crate::wire::{AsapMessage, ErrorCause, OperationError, Protocol};

/// The most Unrecognized Parameter causes put into one ASAP_ERROR.
const MAX_REPORTED_PARAMETERS: usize = 8;

/// Parses a received ASAP message and queues, towards an association
/// source, the ASAP_ERROR the codec's rules call for: for a failed parse
/// whose type bits ask for a report, and for skipped parameters that ask for
/// one (never in answer to an ASAP_ERROR). Returns the message if it parsed,
/// and whether an ERROR could not be queued.
pub(crate) fn parse_answering<'a, const B: usize, const E: usize>(
    tx: &mut TransmitQueue<B, E>,
    source: Source,
    bytes: &'a [u8],
) -> (Option<AsapMessage<'a>>, bool) {
    let parsed = AsapMessage::parse(bytes);
    let Source::Association(assoc) = source else {
        return (parsed.ok(), false);
    };
    let mut causes = [ErrorCause::new(crate::CauseCode::Unspecified); MAX_REPORTED_PARAMETERS];
    let n = match &parsed {
        Ok(AsapMessage::Error { .. }) => 0,
        Ok(_) => ErrorCause::skipped_reports(Protocol::Asap, bytes, &mut causes),
        Err(e) => match ErrorCause::reporting(e, bytes) {
            Some(c) => {
                causes[0] = c;
                1
            }
            None => 0,
        },
    };
    let mut failed = false;
    if n > 0 {
        let message = AsapMessage::Error {
            error: OperationError::new(&causes[..n]),
        };
        failed = tx
            .push_asap(Destination::Association(assoc), &message)
            .is_err();
    }
    (parsed.ok(), failed)
}

/// The first cause code of an optional Operation Error.
pub(crate) fn first_cause(error: &Option<OperationError<'_>>) -> Option<crate::CauseCode> {
    error.as_ref().and_then(|e| e.code())
}
