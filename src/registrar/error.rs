//! [`RegistrarError`]: why an ENRP-side operation was refused.

use super::*;

/// Why an ENRP-side operation was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum RegistrarError {
    /// The handlespace refused it (capacity, inconsistency, invalid values).
    Handlespace(HandlespaceError),
    /// The owned-PE table is full.
    OwnedTableFull,
    /// The pool handle is empty or too long.
    InvalidPoolHandle,
    /// An opaque user transport or an unknown policy type: the handlespace
    /// cannot store it.
    Unsupported,
    /// A peer's update names this registrar as the owner.
    OwnServerId,
}

impl fmt::Display for RegistrarError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegistrarError::Handlespace(e) => write!(f, "{e}"),
            RegistrarError::OwnedTableFull => f.write_str("owned pool element table full"),
            RegistrarError::InvalidPoolHandle => f.write_str("invalid pool handle"),
            RegistrarError::Unsupported => {
                f.write_str("opaque transport or unknown policy not supported")
            }
            RegistrarError::OwnServerId => f.write_str("update names this registrar as owner"),
        }
    }
}

impl core::error::Error for RegistrarError {}

impl From<HandlespaceError> for RegistrarError {
    fn from(e: HandlespaceError) -> Self {
        RegistrarError::Handlespace(e)
    }
}
