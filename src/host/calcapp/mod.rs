//! rsplib's CalcApp: distributed computing on a pool. A pool user
//! ([`CalcAppClient`]) submits jobs of a size in calculations, one after
//! the other, each on a session of its own; a pool element
//! ([`CalcAppService`]) with a capacity in calculations per second runs up
//! to a number of jobs at once, sharing the capacity equally among them,
//! and rejects more. Keep-alives in both directions find dead peers; the
//! pool element's COOKIEs carry each job's progress, so that a job whose
//! PE fails continues on another PE from its last cookie. The wire format
//! is [`crate::wire::calcapp`] (PPID 34), byte for byte rsplib's, so that
//! rsplib's `calcappclient` uses this crate's pool elements and this
//! crate's pool user uses `rspserver -calcapp`.
//!
//! Both count what the load-balancing literature measures: per job the
//! handling time (from the wish to submit to the completion: queuing,
//! startup with rejections, processing with failovers) and its handling
//! speed ([`JobRecord`], [`CalcAppClientStats`]); per PE the calculations
//! done and the utilisation ([`CalcAppService::utilisation`],
//! [`CalcAppServiceStats`]). `sim::calcapp` (feature `sim`) runs
//! them in the simulator.

mod client;
mod service;

pub use client::{CalcAppClient, CalcAppClientConfig, CalcAppClientStats, JobRecord};
pub use service::{
    policy_load, with_load, CalcAppService, CalcAppServiceConfig, CalcAppServiceStats,
    ServiceJobEvent, ServiceObserver, MAX_JOBS_LIMIT,
};

use crate::time::Duration;

/// How a [`CalcAppClient`] draws job sizes and intervals around their
/// mean.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Distribution {
    /// Always the mean.
    Fixed,
    /// Exponentially distributed (rsplib's `randomExpDouble`).
    #[default]
    Exponential,
    /// Uniformly distributed between 0 and twice the mean.
    Uniform,
}

impl Distribution {
    /// A value of mean `mean` from the uniformly distributed `random`.
    pub fn draw(self, mean: f64, random: u64) -> f64 {
        if mean.is_nan() || mean <= 0.0 || !mean.is_finite() {
            return 0.0;
        }
        // In (0, 1]: never 0, so that the logarithm is finite.
        let u = ((random >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
        match self {
            Distribution::Fixed => mean,
            Distribution::Exponential => -mean * ln(u),
            Distribution::Uniform => 2.0 * mean * u,
        }
    }
}

impl core::str::FromStr for Distribution {
    type Err = ();
    /// `fixed`, `exp` (or `exponential`), `uniform`.
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "fixed" => Ok(Distribution::Fixed),
            "exp" | "exponential" => Ok(Distribution::Exponential),
            "uniform" => Ok(Distribution::Uniform),
            _ => Err(()),
        }
    }
}

/// The natural logarithm of a positive finite `x` (without `std`): the
/// exponent of two and the series of `2 artanh((m - 1) / (m + 1))` for the
/// mantissa `m` in [1, 2).
fn ln(x: f64) -> f64 {
    if x.is_nan() || x <= 0.0 || !x.is_finite() {
        return 0.0;
    }
    let bits = x.to_bits();
    let mut exp = ((bits >> 52) & 0x7ff) as i64;
    let mut mant_bits = bits & ((1u64 << 52) - 1);
    if exp == 0 {
        // Subnormal: normalise.
        let shift = mant_bits.leading_zeros() as i64 - 11;
        mant_bits = (mant_bits << shift) & ((1u64 << 52) - 1);
        exp = 1 - shift;
    }
    let m = f64::from_bits((1023u64 << 52) | mant_bits);
    let z = (m - 1.0) / (m + 1.0);
    let z2 = z * z;
    let mut term = z;
    let mut sum = 0.0;
    let mut k = 1.0;
    for _ in 0..30 {
        sum += term / k;
        term *= z2;
        k += 2.0;
    }
    (exp - 1023) as f64 * core::f64::consts::LN_2 + 2.0 * sum
}

/// `x` rounded to the nearest whole number, as `u64` (0 for negative or
/// NaN, `u64::MAX` beyond).
fn round_u64(x: f64) -> u64 {
    if x.is_nan() || x <= 0.0 {
        return 0;
    }
    (x + 0.5) as u64
}

/// `x` microseconds rounded up, as a duration (0 for negative or NaN).
fn ceil_micros(x: f64) -> Duration {
    if x.is_nan() || x <= 0.0 {
        return Duration::ZERO;
    }
    let t = x as u64;
    Duration::from_micros(if (t as f64) < x {
        t.saturating_add(1)
    } else {
        t
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_logarithm_matches_std() {
        for x in [
            1e-300, 1e-9, 0.001, 0.3, 0.5, 0.999_999, 1.0, 1.5, 2.0, 10.0, 1e12, 4.9e-324,
        ] {
            let (a, b) = (ln(x), x.ln());
            assert!(
                (a - b).abs() <= 1e-12 * b.abs().max(1.0),
                "ln({x}) = {a}, not {b}"
            );
        }
        assert_eq!(ln(0.0), 0.0);
        assert_eq!(ln(-1.0), 0.0);
        assert_eq!(ln(f64::NAN), 0.0);
    }

    #[test]
    fn draws_have_their_mean() {
        let mut x: u64 = 1;
        for d in [
            Distribution::Fixed,
            Distribution::Exponential,
            Distribution::Uniform,
        ] {
            let n = 200_000;
            let mut sum = 0.0;
            for _ in 0..n {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let v = d.draw(100.0, x);
                assert!(v.is_finite() && v >= 0.0);
                sum += v;
            }
            let mean = sum / n as f64;
            assert!((mean - 100.0).abs() < 1.0, "{d:?}: mean {mean}");
        }
        assert_eq!(Distribution::Exponential.draw(0.0, 5), 0.0);
        assert_eq!(Distribution::Exponential.draw(f64::NAN, 5), 0.0);
        assert!(Distribution::Exponential.draw(1.0, u64::MAX).is_finite());
        assert!(Distribution::Exponential.draw(1.0, 0).is_finite());
    }

    #[test]
    fn rounding() {
        assert_eq!(round_u64(-1.0), 0);
        assert_eq!(round_u64(f64::NAN), 0);
        assert_eq!(round_u64(2.5), 3);
        assert_eq!(round_u64(1e30), u64::MAX);
        assert_eq!(ceil_micros(0.0), Duration::ZERO);
        assert_eq!(ceil_micros(1.000_1), Duration::from_micros(2));
        assert_eq!(ceil_micros(7.0), Duration::from_micros(7));
        assert_eq!(ceil_micros(f64::INFINITY), Duration::from_micros(u64::MAX));
    }
}
