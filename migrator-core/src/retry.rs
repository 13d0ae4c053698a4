//! The one retry policy: jittered exponential backoff for errors that say a retry can help
//! (a dropped connection, a serialization failure, a deadlock), bounded in attempts.

use std::time::Duration;

use rand::Rng;

use crate::error::Error;

/// How often and how patiently to retry.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RetryPolicy {
    pub attempts: u32,
    pub base: Duration,
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 6,
            base: Duration::from_millis(200),
            max: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// The pause before retry number `attempt` (1-based): full jitter over an exponentially
    /// growing window.
    pub fn delay(&self, attempt: u32) -> Duration {
        let window = self
            .base
            .saturating_mul(1u32 << attempt.min(16))
            .min(self.max);
        let ms =
            rand::rng().random_range(window.as_millis() as u64 / 2..=window.as_millis() as u64);
        Duration::from_millis(ms)
    }

    /// Whether error `e` after `attempt` tries deserves another.
    pub fn should_retry(&self, e: &Error, attempt: u32) -> bool {
        e.is_retryable() && attempt < self.attempts
    }
}

/// Runs `op` until it succeeds, fails for good, or runs out of attempts; each retry is
/// reported to `events` (and the log) as what it was doing.
pub(crate) async fn retrying<T, F, Fut>(
    policy: RetryPolicy,
    what: &str,
    events: Option<&crate::events::EventSink>,
    mut op: F,
) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, Error>>,
{
    let mut attempt = 1;
    loop {
        match op().await {
            Ok(v) => return Ok(v),
            Err(e) if policy.should_retry(&e, attempt) => {
                let delay = policy.delay(attempt);
                match events {
                    Some(ev) => ev.retry(what, attempt, delay, &e),
                    None => tracing::info!(what, attempt, error = %e, "retrying"),
                }
                tokio::time::sleep(delay).await;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn bounded_and_growing() {
        let p = RetryPolicy::default();
        let retryable = Error::new(ErrorKind::Target, "x").retryable(true);
        let fatal = Error::new(ErrorKind::Target, "x");
        assert!(p.should_retry(&retryable, 1));
        assert!(!p.should_retry(&retryable, p.attempts));
        assert!(!p.should_retry(&fatal, 1));
        for attempt in 1..10 {
            let d = p.delay(attempt);
            assert!(d <= p.max, "{d:?}");
            let window = p.base.saturating_mul(1 << attempt).min(p.max);
            assert!(d >= window / 2, "{d:?} below half of {window:?}");
        }
    }
}
