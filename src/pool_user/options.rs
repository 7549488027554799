//! The send options of RFC 5352 §6.5 as flags.

use core::ops::BitOr;

/// How a pool user picks pool elements and what it does when one fails
/// (RFC 5352 §6.5; the bit values are the API's `ASAP_SEND_*`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SendOptions(u16);

impl SendOptions {
    /// `ASAP_USE_DEFAULT`: pick by the pool's policy; fail over on failure.
    pub const DEFAULT: SendOptions = SendOptions(0x0000);
    /// `ASAP_SEND_FAILOVER`: on failure pick another PE of the pool
    /// silently (what the default does too).
    pub const FAILOVER: SendOptions = SendOptions(0x0001);
    /// `ASAP_SEND_NO_FAILOVER`: on failure report the error; no other PE is
    /// picked.
    pub const NO_FAILOVER: SendOptions = SendOptions(0x0002);
    /// `ASAP_SEND_TO_LAST`: the PE of the previous selection, if still cached.
    pub const TO_LAST: SendOptions = SendOptions(0x0004);
    /// `ASAP_SEND_TO_ALL`: every cached PE (see `PoolUser::select_all`).
    pub const TO_ALL: SendOptions = SendOptions(0x0008);

    /// The raw bits.
    pub const fn bits(self) -> u16 {
        self.0
    }

    /// Options from raw bits (unknown bits are kept and ignored).
    pub const fn from_bits(bits: u16) -> Self {
        SendOptions(bits)
    }

    /// Whether every bit of `other` is set.
    pub const fn contains(self, other: SendOptions) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether a failure picks another PE (no `NO_FAILOVER`).
    pub const fn fails_over(self) -> bool {
        !self.contains(Self::NO_FAILOVER)
    }
}

impl BitOr for SendOptions {
    type Output = SendOptions;
    fn bitor(self, rhs: SendOptions) -> SendOptions {
        SendOptions(self.0 | rhs.0)
    }
}
