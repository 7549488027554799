//! Operation error cause codes (RFC 5354 §3.12), shared by the handlespace,
//! the wire codec and the protocol machines.

use core::fmt;

/// An error cause code as carried in an Operation Error parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum CauseCode {
    /// 0x0: unspecified error.
    Unspecified,
    /// 0x1: a parameter type was not recognised; the cause carries the whole TLV.
    UnrecognizedParameter,
    /// 0x2: a message type was not recognised; the cause carries the message.
    UnrecognizedMessage,
    /// 0x3: a value is out of range; the cause carries the offending TLV.
    InvalidValues,
    /// 0x4: the PE identifier is already used in the pool.
    NonUniquePeIdentifier,
    /// 0x5: the PE's policy type differs from the pool's; the cause carries the pool's policy TLV.
    InconsistentPoolingPolicy,
    /// 0x6: the receiver ran out of resources (a capacity limit was reached).
    LackOfResources,
    /// 0x7: the PE's user transport type differs from the pool's; the cause carries the pool's transport TLV.
    InconsistentTransportType,
    /// 0x8: the PE's data/control configuration differs from the pool's.
    InconsistentDataControlConfiguration,
    /// 0x9: no pool has this handle.
    UnknownPoolHandle,
    /// 0xA: refused for security reasons (e.g. deregistration from another association).
    RejectedSecurityConsiderations,
    /// Any other code (0xB-0xFFFF are unassigned).
    Other(u16),
}

impl CauseCode {
    /// The code's numeric value.
    pub const fn code(self) -> u16 {
        match self {
            CauseCode::Unspecified => 0x0,
            CauseCode::UnrecognizedParameter => 0x1,
            CauseCode::UnrecognizedMessage => 0x2,
            CauseCode::InvalidValues => 0x3,
            CauseCode::NonUniquePeIdentifier => 0x4,
            CauseCode::InconsistentPoolingPolicy => 0x5,
            CauseCode::LackOfResources => 0x6,
            CauseCode::InconsistentTransportType => 0x7,
            CauseCode::InconsistentDataControlConfiguration => 0x8,
            CauseCode::UnknownPoolHandle => 0x9,
            CauseCode::RejectedSecurityConsiderations => 0xA,
            CauseCode::Other(code) => code,
        }
    }

    /// The cause for a numeric value (every value maps to some cause).
    pub const fn from_code(code: u16) -> Self {
        match code {
            0x0 => CauseCode::Unspecified,
            0x1 => CauseCode::UnrecognizedParameter,
            0x2 => CauseCode::UnrecognizedMessage,
            0x3 => CauseCode::InvalidValues,
            0x4 => CauseCode::NonUniquePeIdentifier,
            0x5 => CauseCode::InconsistentPoolingPolicy,
            0x6 => CauseCode::LackOfResources,
            0x7 => CauseCode::InconsistentTransportType,
            0x8 => CauseCode::InconsistentDataControlConfiguration,
            0x9 => CauseCode::UnknownPoolHandle,
            0xA => CauseCode::RejectedSecurityConsiderations,
            other => CauseCode::Other(other),
        }
    }

    /// The RFC's name for the cause.
    pub const fn name(self) -> &'static str {
        match self {
            CauseCode::Unspecified => "Unspecified Error",
            CauseCode::UnrecognizedParameter => "Unrecognized Parameter",
            CauseCode::UnrecognizedMessage => "Unrecognized Message",
            CauseCode::InvalidValues => "Invalid Values",
            CauseCode::NonUniquePeIdentifier => "Non-Unique PE Identifier",
            CauseCode::InconsistentPoolingPolicy => "Inconsistent Pooling Policy",
            CauseCode::LackOfResources => "Lack of Resources",
            CauseCode::InconsistentTransportType => "Inconsistent Transport Type",
            CauseCode::InconsistentDataControlConfiguration => {
                "Inconsistent Data/Control Configuration"
            }
            CauseCode::UnknownPoolHandle => "Unknown Pool Handle",
            CauseCode::RejectedSecurityConsiderations => "Rejected Due to Security Considerations",
            CauseCode::Other(_) => "Unassigned",
        }
    }
}

impl From<u16> for CauseCode {
    fn from(code: u16) -> Self {
        CauseCode::from_code(code)
    }
}

impl From<CauseCode> for u16 {
    fn from(c: CauseCode) -> u16 {
        c.code()
    }
}

impl fmt::Display for CauseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({:#x})", self.name(), self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for code in 0..=0xFFu16 {
            assert_eq!(CauseCode::from_code(code).code(), code);
        }
        assert_eq!(CauseCode::LackOfResources.code(), 6);
        assert_eq!(
            CauseCode::from_code(0xA),
            CauseCode::RejectedSecurityConsiderations
        );
        assert_eq!(CauseCode::from_code(0xB), CauseCode::Other(0xB));
    }
}
