//! A bounded per-reporter limit on ENDPOINT_UNREACHABLE reports.

use crate::time::Instant;
use crate::transmit::Source;

use super::config::ReportRate;

/// How many reporters the limiter tracks at once; when full, the one whose
/// window started longest ago is forgotten.
pub const MAX_REPORTERS: usize = 32;

#[derive(Clone, Copy, Debug)]
struct Reporter {
    source: Source,
    window_start: Instant,
    count: u32,
}

/// Fixed windows per reporter, in a fixed table (no heap).
#[derive(Debug, Default)]
pub(crate) struct ReportLimiter {
    reporters: heapless::Vec<Reporter, MAX_REPORTERS>,
}

impl ReportLimiter {
    /// No reporter yet.
    pub(crate) const fn new() -> Self {
        ReportLimiter {
            reporters: heapless::Vec::new(),
        }
    }

    /// Whether `source` may report now; counts the report if so.
    pub(crate) fn allow(&mut self, rate: &ReportRate, source: Source, now: Instant) -> bool {
        if let Some(r) = self.reporters.iter_mut().find(|r| r.source == source) {
            if now.saturating_duration_since(r.window_start) >= rate.window {
                r.window_start = now;
                r.count = 0;
            }
            if r.count >= rate.max_reports {
                return false;
            }
            r.count += 1;
            return true;
        }
        if rate.max_reports == 0 {
            return false;
        }
        let fresh = Reporter {
            source,
            window_start: now,
            count: 1,
        };
        if self.reporters.push(fresh).is_err() {
            // Full: forget the reporter whose window started first.
            if let Some(oldest) = self.reporters.iter_mut().min_by_key(|r| r.window_start) {
                *oldest = fresh;
            }
        }
        true
    }

    /// The number of reporters tracked.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.reporters.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::AssocId;
    use crate::time::Duration;

    #[test]
    fn limits_each_reporter_per_window_and_stays_bounded() {
        let rate = ReportRate {
            max_reports: 2,
            window: Duration::from_secs(10),
        };
        let mut l = ReportLimiter::default();
        let a = Source::Association(AssocId(1));
        let t0 = Instant::from_secs(100);
        assert!(l.allow(&rate, a, t0));
        assert!(l.allow(&rate, a, t0));
        assert!(!l.allow(&rate, a, t0 + Duration::from_secs(9)));
        assert!(l.allow(&rate, Source::Association(AssocId(2)), t0));
        assert!(l.allow(&rate, a, t0 + Duration::from_secs(10)));
        for i in 0..100 {
            assert!(l.allow(&rate, Source::Association(AssocId(10 + i)), t0));
        }
        assert_eq!(l.len(), MAX_REPORTERS);
    }
}
