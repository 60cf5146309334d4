//! Clocks. The engine never reads one: every operation takes the time as an
//! argument. [`Clock`] adapts whatever the caller has; [`SystemClock`]
//! (feature `std`) reads `SystemTime` for servers, and [`FixedClock`] is for
//! tests, fuzzing and firmware that keeps its own time.

/// A source of Unix time in seconds.
pub trait Clock {
    /// Seconds since 1970-01-01T00:00:00Z.
    fn unix_time(&self) -> u64;
}

/// A clock that always answers the same time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FixedClock(pub u64);

impl Clock for FixedClock {
    fn unix_time(&self) -> u64 {
        self.0
    }
}

/// The system clock (`std::time::SystemTime`). A clock set before 1970
/// reads as 0.
#[cfg(feature = "std")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SystemClock;

#[cfg(feature = "std")]
impl Clock for SystemClock {
    fn unix_time(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }
}
