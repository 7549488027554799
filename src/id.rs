//! Identifiers: [`PoolHandle`], [`PeId`], [`ServerId`] and [`AssocId`].

use core::fmt;
use core::num::NonZeroU32;

/// The longest pool handle accepted, in bytes (rsplib's limit).
///
/// RFC 5354 leaves the length open; a longer handle is refused with
/// [`IdError::PoolHandleTooLong`] rather than truncated.
pub const MAX_POOL_HANDLE_SIZE: usize = 32;

/// Why an identifier could not be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum IdError {
    /// A pool handle must have at least one byte.
    EmptyPoolHandle,
    /// A pool handle is longer than [`MAX_POOL_HANDLE_SIZE`].
    PoolHandleTooLong {
        /// The length that was offered.
        len: usize,
    },
    /// PE identifiers and server identifiers are non-zero.
    Zero,
}

impl fmt::Display for IdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdError::EmptyPoolHandle => f.write_str("empty pool handle"),
            IdError::PoolHandleTooLong { len } => write!(
                f,
                "pool handle of {len} bytes is longer than {MAX_POOL_HANDLE_SIZE}"
            ),
            IdError::Zero => f.write_str("identifier is zero"),
        }
    }
}

impl core::error::Error for IdError {}

/// The name of a pool: 1 to [`MAX_POOL_HANDLE_SIZE`] opaque bytes, stored inline.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PoolHandle {
    len: u8,
    bytes: [u8; MAX_POOL_HANDLE_SIZE],
}

impl PoolHandle {
    /// Copies `bytes` into a pool handle (a `const fn`, so a handle can
    /// be a constant).
    pub const fn new(bytes: &[u8]) -> Result<Self, IdError> {
        if bytes.is_empty() {
            return Err(IdError::EmptyPoolHandle);
        }
        if bytes.len() > MAX_POOL_HANDLE_SIZE {
            return Err(IdError::PoolHandleTooLong { len: bytes.len() });
        }
        let mut buf = [0u8; MAX_POOL_HANDLE_SIZE];
        let mut i = 0;
        while i < bytes.len() {
            buf[i] = bytes[i];
            i += 1;
        }
        Ok(PoolHandle {
            // Cannot truncate: the length was checked against MAX_POOL_HANDLE_SIZE.
            len: bytes.len() as u8,
            bytes: buf,
        })
    }
    /// The handle's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
    /// The number of bytes (never zero).
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }
}

impl TryFrom<&[u8]> for PoolHandle {
    type Error = IdError;
    fn try_from(bytes: &[u8]) -> Result<Self, IdError> {
        PoolHandle::new(bytes)
    }
}

impl TryFrom<&str> for PoolHandle {
    type Error = IdError;
    fn try_from(s: &str) -> Result<Self, IdError> {
        PoolHandle::new(s.as_bytes())
    }
}

impl AsRef<[u8]> for PoolHandle {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl fmt::Debug for PoolHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PoolHandle(\"{self}\")")
    }
}

impl fmt::Display for PoolHandle {
    /// Printable ASCII as text, anything else as `\xNN`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for &b in self.as_bytes() {
            if (0x20..0x7f).contains(&b) && b != b'\\' && b != b'"' {
                write!(f, "{}", b as char)?;
            } else {
                write!(f, "\\x{b:02x}")?;
            }
        }
        Ok(())
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for PoolHandle {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "{=[u8]}", self.as_bytes())
    }
}

macro_rules! nonzero_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(NonZeroU32);

        impl $name {
            /// The identifier `value`, refused if it is zero.
            pub const fn new(value: u32) -> Result<Self, IdError> {
                match NonZeroU32::new(value) {
                    Some(v) => Ok($name(v)),
                    None => Err(IdError::Zero),
                }
            }
            /// The identifier as it is sent on the wire.
            pub const fn get(self) -> u32 {
                self.0.get()
            }
        }

        impl TryFrom<u32> for $name {
            type Error = IdError;
            fn try_from(value: u32) -> Result<Self, IdError> {
                $name::new(value)
            }
        }

        impl From<$name> for u32 {
            fn from(id: $name) -> u32 {
                id.get()
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({:#010x})"), self.get())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{:#010x}", self.get())
            }
        }

        #[cfg(feature = "defmt")]
        impl defmt::Format for $name {
            fn format(&self, f: defmt::Formatter<'_>) {
                defmt::write!(f, "{=u32:#010x}", self.get())
            }
        }
    };
}

nonzero_id!(
    /// A pool element identifier: a non-zero `u32`, unique within its pool
    /// (RFC 5352 §3.1: chosen at random by the pool element).
    PeId
);

nonzero_id!(
    /// A registrar (ENRP server) identifier: a non-zero `u32`, fixed for the
    /// registrar's lifetime (RFC 5353 §2.1). On the wire, zero means "none" and
    /// is carried as `Option<ServerId>`.
    ServerId
);

/// Names a transport association (an SCTP association, a TCP connection, or a
/// UDP peer) as the caller's transport numbers it. The handlespace records over
/// which association each PE registered, so that the PEs of a failed
/// association can be found and removed, and so that only that association may
/// deregister them.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct AssocId(pub u32);

impl AssocId {
    /// "No association": a PE learnt from a peer registrar rather than registered directly.
    pub const NONE: AssocId = AssocId(u32::MAX);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_handle_limits() {
        assert_eq!(PoolHandle::new(b""), Err(IdError::EmptyPoolHandle));
        let long = [b'x'; MAX_POOL_HANDLE_SIZE + 1];
        assert_eq!(
            PoolHandle::new(&long),
            Err(IdError::PoolHandleTooLong {
                len: MAX_POOL_HANDLE_SIZE + 1
            })
        );
        let max = PoolHandle::new(&long[..MAX_POOL_HANDLE_SIZE]).unwrap();
        assert_eq!(max.len(), MAX_POOL_HANDLE_SIZE);
        let h = PoolHandle::try_from("EchoPool").unwrap();
        assert_eq!(h.as_bytes(), b"EchoPool");
        assert_ne!(h, PoolHandle::new(b"EchoPool\0").unwrap());
    }

    #[test]
    fn ids_are_non_zero() {
        assert_eq!(PeId::new(0), Err(IdError::Zero));
        assert_eq!(ServerId::try_from(0u32), Err(IdError::Zero));
        assert_eq!(PeId::new(0x1234_5678).unwrap().get(), 0x1234_5678);
        assert_eq!(u32::from(ServerId::new(7).unwrap()), 7);
    }

    #[cfg(feature = "std")]
    #[test]
    fn display() {
        let h = PoolHandle::new(b"a\x00b").unwrap();
        assert_eq!(std::format!("{h}"), "a\\x00b");
        assert_eq!(std::format!("{}", PeId::new(0xab).unwrap()), "0x000000ab");
    }
}
