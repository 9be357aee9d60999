//! When to try a failed job again: exponential backoff with jitter, capped, up to an attempt
//! limit and optionally a deadline counted from when the job was created.

use std::time::Duration;

use crate::Timestamp;

/// A retry schedule for one kind of job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Delay before the first retry.
    pub base: Duration,
    /// Longest delay between two attempts.
    pub cap: Duration,
    /// Attempts in all (the first run included) before giving up.
    pub max_attempts: u32,
    /// Give up once this long has passed since the job was created, whatever the count.
    pub deadline: Option<Duration>,
}

impl Default for RetryPolicy {
    /// 10 attempts starting 5 s apart, doubling up to 10 minutes (about 40 minutes in all).
    fn default() -> Self {
        Self {
            base: Duration::from_secs(5),
            cap: Duration::from_secs(600),
            max_attempts: 10,
            deadline: None,
        }
    }
}

impl RetryPolicy {
    /// The delay after failed attempt number `attempt` (1-based), before jitter.
    pub fn delay(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(40);
        self.base
            .saturating_mul(1u32 << doublings.min(31))
            .min(self.cap)
    }

    /// When to run again after attempt `attempt` failed at `now`, or `None` to give up.
    /// `jitter` is a random number in `0..=1000`; the delay is scaled into `[½, 1]` of its
    /// nominal value so that jobs failing together do not retry in lockstep.
    pub fn next_run(
        &self,
        attempt: u32,
        created_at: Timestamp,
        now: Timestamp,
        jitter: u16,
    ) -> Option<Timestamp> {
        if attempt >= self.max_attempts {
            return None;
        }
        let nominal = self.delay(attempt);
        let half = nominal / 2;
        let scaled = half + half * u32::from(jitter.min(1000)) / 1000;
        let at = now.saturating_add(scaled);
        match self.deadline {
            Some(deadline) if at > created_at.saturating_add(deadline) => None,
            _ => Some(at),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(60);

    #[test]
    fn doubles_up_to_the_cap() {
        let p = RetryPolicy {
            base: MIN,
            cap: 60 * MIN,
            max_attempts: 100,
            deadline: None,
        };
        let delays: Vec<u64> = (1..=9).map(|a| p.delay(a).as_secs() / 60).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(p.delay(u32::MAX), 60 * MIN);
    }

    #[test]
    fn jitter_stays_between_half_and_full() {
        let p = RetryPolicy {
            base: MIN,
            cap: 60 * MIN,
            max_attempts: 10,
            deadline: None,
        };
        let now = Timestamp::from_micros(1_000_000_000);
        let lo = p.next_run(3, now, now, 0).unwrap();
        let hi = p.next_run(3, now, now, 1000).unwrap();
        assert_eq!(lo.duration_since(now), 2 * MIN);
        assert_eq!(hi.duration_since(now), 4 * MIN);
        assert_eq!(p.next_run(3, now, now, u16::MAX), Some(hi));
    }

    #[test]
    fn gives_up_after_attempts_or_deadline() {
        let p = RetryPolicy {
            base: MIN,
            cap: 60 * MIN,
            max_attempts: 3,
            deadline: None,
        };
        let t = Timestamp::from_micros(0);
        assert!(p.next_run(2, t, t, 500).is_some());
        assert!(p.next_run(3, t, t, 500).is_none());

        // Postback-style: hourly retries for three days, however many that takes.
        let three_days = Duration::from_secs(3 * 24 * 3600);
        let p = RetryPolicy {
            base: MIN,
            cap: 60 * MIN,
            max_attempts: u32::MAX,
            deadline: Some(three_days),
        };
        let mut now = t;
        let mut attempt = 1;
        while let Some(next) = p.next_run(attempt, t, now, 1000) {
            now = next;
            attempt += 1;
        }
        assert!(now <= t.saturating_add(three_days));
        assert!(
            now > t.saturating_add(three_days - 60 * MIN),
            "retries continue until close to the deadline"
        );
        assert!(
            attempt > 70,
            "about one attempt an hour for three days, got {attempt}"
        );
    }
}
