//! The crate's own notion of time: an [`Instant`] on a monotonic clock that the
//! caller owns, and a [`Duration`] between two instants, both with microsecond
//! resolution.
//!
//! Nothing in the core reads a clock. Every entry point takes `now: Instant`
//! from the caller, which may come from a hardware timer on a board, from
//! [`StdClock`] on a host, or from a simulator's virtual clock.
//!
#![cfg_attr(not(feature = "std"), doc = "[`StdClock`]: crate#features")]

use core::fmt;
use core::ops::{Add, AddAssign, Sub, SubAssign};

/// A span of time with microsecond resolution.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration {
    micros: u64,
}

impl Duration {
    /// No time at all.
    pub const ZERO: Duration = Duration { micros: 0 };
    /// The longest representable duration; used for "never".
    pub const MAX: Duration = Duration { micros: u64::MAX };

    /// A duration of `micros` microseconds.
    pub const fn from_micros(micros: u64) -> Self {
        Duration { micros }
    }
    /// A duration of `millis` milliseconds (saturating).
    pub const fn from_millis(millis: u64) -> Self {
        Duration {
            micros: millis.saturating_mul(1_000),
        }
    }
    /// A duration of `secs` seconds (saturating).
    pub const fn from_secs(secs: u64) -> Self {
        Duration {
            micros: secs.saturating_mul(1_000_000),
        }
    }
    /// The duration in whole microseconds.
    pub const fn as_micros(self) -> u64 {
        self.micros
    }
    /// The duration in whole milliseconds, rounded down.
    pub const fn as_millis(self) -> u64 {
        self.micros / 1_000
    }
    /// The duration in whole seconds, rounded down.
    pub const fn as_secs(self) -> u64 {
        self.micros / 1_000_000
    }
    /// `self + other`, or `None` on overflow.
    pub const fn checked_add(self, other: Duration) -> Option<Duration> {
        match self.micros.checked_add(other.micros) {
            Some(micros) => Some(Duration { micros }),
            None => None,
        }
    }
    /// `self - other`, or `None` if `other` is longer.
    pub const fn checked_sub(self, other: Duration) -> Option<Duration> {
        match self.micros.checked_sub(other.micros) {
            Some(micros) => Some(Duration { micros }),
            None => None,
        }
    }
    /// `self + other`, clamped to [`Duration::MAX`].
    pub const fn saturating_add(self, other: Duration) -> Duration {
        Duration {
            micros: self.micros.saturating_add(other.micros),
        }
    }
    /// `self - other`, clamped to [`Duration::ZERO`].
    pub const fn saturating_sub(self, other: Duration) -> Duration {
        Duration {
            micros: self.micros.saturating_sub(other.micros),
        }
    }
    /// `self * factor`, clamped to [`Duration::MAX`].
    pub const fn saturating_mul(self, factor: u64) -> Duration {
        Duration {
            micros: self.micros.saturating_mul(factor),
        }
    }
}

impl fmt::Debug for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{:06}s",
            self.micros / 1_000_000,
            self.micros % 1_000_000
        )
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl From<core::time::Duration> for Duration {
    /// Converts, rounding down to whole microseconds and saturating at [`Duration::MAX`].
    fn from(d: core::time::Duration) -> Self {
        Duration {
            micros: u64::try_from(d.as_micros()).unwrap_or(u64::MAX),
        }
    }
}

impl From<Duration> for core::time::Duration {
    fn from(d: Duration) -> Self {
        core::time::Duration::from_micros(d.micros)
    }
}

impl Add for Duration {
    type Output = Duration;
    /// Saturating addition.
    fn add(self, rhs: Duration) -> Duration {
        self.saturating_add(rhs)
    }
}

impl AddAssign for Duration {
    fn add_assign(&mut self, rhs: Duration) {
        *self = *self + rhs;
    }
}

impl Sub for Duration {
    type Output = Duration;
    /// Saturating subtraction.
    fn sub(self, rhs: Duration) -> Duration {
        self.saturating_sub(rhs)
    }
}

impl SubAssign for Duration {
    fn sub_assign(&mut self, rhs: Duration) {
        *self = *self - rhs;
    }
}

/// A point in time on the caller's monotonic clock, in microseconds since an
/// epoch the caller chooses (boot, process start, the start of a simulation).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant {
    micros: u64,
}

impl Instant {
    /// The epoch of the clock.
    pub const ZERO: Instant = Instant { micros: 0 };
    /// The latest representable instant; used for "never".
    pub const MAX: Instant = Instant { micros: u64::MAX };

    /// The instant `micros` microseconds after the epoch.
    pub const fn from_micros(micros: u64) -> Self {
        Instant { micros }
    }
    /// The instant `millis` milliseconds after the epoch (saturating).
    pub const fn from_millis(millis: u64) -> Self {
        Instant {
            micros: millis.saturating_mul(1_000),
        }
    }
    /// The instant `secs` seconds after the epoch (saturating).
    pub const fn from_secs(secs: u64) -> Self {
        Instant {
            micros: secs.saturating_mul(1_000_000),
        }
    }
    /// Microseconds since the epoch.
    pub const fn as_micros(self) -> u64 {
        self.micros
    }
    /// Whole milliseconds since the epoch.
    pub const fn as_millis(self) -> u64 {
        self.micros / 1_000
    }
    /// The time elapsed since `earlier`, or [`Duration::ZERO`] if `earlier` is later.
    pub const fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_micros(self.micros.saturating_sub(earlier.micros))
    }
    /// `self + d`, or `None` on overflow.
    pub const fn checked_add(self, d: Duration) -> Option<Instant> {
        match self.micros.checked_add(d.as_micros()) {
            Some(micros) => Some(Instant { micros }),
            None => None,
        }
    }
    /// `self - d`, or `None` before the epoch.
    pub const fn checked_sub(self, d: Duration) -> Option<Instant> {
        match self.micros.checked_sub(d.as_micros()) {
            Some(micros) => Some(Instant { micros }),
            None => None,
        }
    }
    /// `self + d`, clamped to [`Instant::MAX`].
    pub const fn saturating_add(self, d: Duration) -> Instant {
        Instant {
            micros: self.micros.saturating_add(d.as_micros()),
        }
    }
}

impl fmt::Debug for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "@{}.{:06}s",
            self.micros / 1_000_000,
            self.micros % 1_000_000
        )
    }
}

impl fmt::Display for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    /// Saturating addition.
    fn add(self, rhs: Duration) -> Instant {
        self.saturating_add(rhs)
    }
}

impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, rhs: Duration) {
        *self = *self + rhs;
    }
}

impl Sub<Duration> for Instant {
    type Output = Instant;
    /// Saturating subtraction (clamped to the epoch).
    fn sub(self, rhs: Duration) -> Instant {
        Instant {
            micros: self.micros.saturating_sub(rhs.as_micros()),
        }
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    /// The saturating difference; see [`Instant::saturating_duration_since`].
    fn sub(self, rhs: Instant) -> Duration {
        self.saturating_duration_since(rhs)
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for Instant {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "@{=u64}us", self.micros)
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for Duration {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "{=u64}us", self.micros)
    }
}

/// A host clock: turns [`std::time::Instant`] readings into the crate's
/// [`Instant`], counted from the moment the clock was created.
#[cfg(feature = "std")]
#[derive(Clone, Copy, Debug)]
pub struct StdClock {
    epoch: std::time::Instant,
}

#[cfg(feature = "std")]
impl StdClock {
    /// A clock whose epoch is now.
    pub fn new() -> Self {
        StdClock {
            epoch: std::time::Instant::now(),
        }
    }
    /// The current time.
    pub fn now(&self) -> Instant {
        self.instant(std::time::Instant::now())
    }
    /// Converts a reading of the std clock (readings before the epoch map to the epoch).
    pub fn instant(&self, t: std::time::Instant) -> Instant {
        Instant::ZERO + Duration::from(t.saturating_duration_since(self.epoch))
    }
    /// Converts back to the std clock.
    pub fn std_instant(&self, t: Instant) -> std::time::Instant {
        self.epoch + core::time::Duration::from(t - Instant::ZERO)
    }
}

#[cfg(feature = "std")]
impl Default for StdClock {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates() {
        let t = Instant::from_secs(2);
        assert_eq!(
            t + Duration::from_millis(1_500),
            Instant::from_micros(3_500_000)
        );
        assert_eq!(t - Duration::from_secs(5), Instant::ZERO);
        assert_eq!(Instant::MAX + Duration::from_secs(1), Instant::MAX);
        assert_eq!(
            Instant::from_secs(1) - Instant::from_secs(3),
            Duration::ZERO
        );
        assert_eq!(
            Instant::from_secs(3) - Instant::from_secs(1),
            Duration::from_secs(2)
        );
        assert_eq!(Duration::from_secs(u64::MAX), Duration::MAX);
        assert_eq!(t.checked_add(Duration::MAX), None);
        assert_eq!(Duration::from_millis(1_999).as_secs(), 1);
    }

    #[test]
    fn converts_from_core_duration() {
        let d: Duration = core::time::Duration::from_nanos(1_999).into();
        assert_eq!(d, Duration::from_micros(1));
        let back: core::time::Duration = Duration::from_millis(7).into();
        assert_eq!(back, core::time::Duration::from_millis(7));
        let huge: Duration = core::time::Duration::MAX.into();
        assert_eq!(huge, Duration::MAX);
    }

    #[cfg(feature = "std")]
    #[test]
    fn std_clock_round_trips() {
        let clock = StdClock::new();
        let a = clock.now();
        let std_a = clock.std_instant(a);
        assert_eq!(clock.instant(std_a), a);
        assert!(clock.now() >= a);
    }
}
