//! The one clock of the lab.
//!
//! The AS, the RS and the client read time through a shared [`Clock`], so a scenario can move it and
//! test code expiry, token expiry and leeway instantly and deterministically, without sleeping.
//! Cloning a clock shares it.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch, as a shared and movable clock.
#[derive(Debug, Clone)]
pub struct Clock {
    inner: Arc<ClockInner>,
}

#[derive(Debug)]
struct ClockInner {
    /// `None` follows the system clock; `Some` is a frozen start that only moves when told.
    frozen_at: Option<i64>,
    offset: AtomicI64,
}

impl Clock {
    /// The system clock, movable forward and backward by an offset.
    pub fn system() -> Self {
        Self { inner: Arc::new(ClockInner { frozen_at: None, offset: AtomicI64::new(0) }) }
    }

    /// A frozen clock that starts at `unix_seconds` and moves only through [`Clock::advance`].
    pub fn frozen(unix_seconds: u64) -> Self {
        let start = i64::try_from(unix_seconds).unwrap_or(i64::MAX);
        Self { inner: Arc::new(ClockInner { frozen_at: Some(start), offset: AtomicI64::new(0) }) }
    }

    /// Now, in whole seconds since the Unix epoch.
    pub fn now(&self) -> u64 {
        let base = self.inner.frozen_at.unwrap_or_else(|| {
            let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
            i64::try_from(since_epoch.as_secs()).unwrap_or(i64::MAX)
        });
        let now = base.saturating_add(self.inner.offset.load(Ordering::Relaxed));
        u64::try_from(now).unwrap_or(0)
    }

    /// Moves the clock by `seconds` (negative moves it back) for every holder of this clock.
    pub fn advance(&self, seconds: i64) {
        self.inner.offset.fetch_add(seconds, Ordering::Relaxed);
    }

    /// How far the clock has been moved from where it started, in seconds.
    pub fn offset(&self) -> i64 {
        self.inner.offset.load(Ordering::Relaxed)
    }

    /// Undoes every move: the clock reads its start again (the system time, or the frozen start).
    pub fn reset(&self) {
        self.inner.offset.store(0, Ordering::Relaxed);
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::system()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frozen_clock_moves_only_when_told_and_is_shared() {
        let clock = Clock::frozen(1_000);
        let shared = clock.clone();
        assert_eq!(clock.now(), 1_000);
        shared.advance(61);
        assert_eq!(clock.now(), 1_061);
        clock.advance(-2_000);
        assert_eq!(shared.now(), 0);
        assert_eq!(shared.offset(), -1_939);
        shared.reset();
        assert_eq!(clock.now(), 1_000);
    }

    #[test]
    fn system_clock_is_near_now() {
        let clock = Clock::system();
        let before = clock.now();
        clock.advance(300);
        assert!(clock.now() >= before + 300);
        assert!(before > 1_700_000_000);
    }
}
