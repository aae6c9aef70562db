//! The one way background work runs beside the server: retried until it is done, or repeated on an interval, with
//! jittered capped backoff, and always stopping at the shutdown token. `Application::build` starts each task; this
//! module is what they share.

use std::future::Future;
use std::time::Duration;

use rand::Rng;
use tokio_util::sync::CancellationToken;

/// What an attempt asks for next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    Done,
    /// Try again after the backoff's delay.
    Retry,
    /// Try again after this delay instead (a refused token will not fix itself quickly, say).
    RetryIn(Duration),
}

/// Doubling delays from `initial` up to `max`, each with ±20 % jitter so that replicas started together drift apart.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self { next: initial, max }
    }

    /// The delay before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(self.max);
        delay.mul_f64(rand::rng().random_range(0.8..1.2)).min(self.max)
    }
}

/// Waits for `gate` (the database being ready, say); false when shutdown came first.
pub async fn wait_for(shutdown: &CancellationToken, gate: impl Future<Output = ()>) -> bool {
    tokio::select! {
        () = shutdown.cancelled() => false,
        () = gate => true,
    }
}

/// Sleeps for `delay`; false when shutdown came first.
pub async fn sleep(shutdown: &CancellationToken, delay: Duration) -> bool {
    wait_for(shutdown, tokio::time::sleep(delay)).await
}

/// Runs `attempt` until it is done or shutdown begins. Each attempt is told how long the wait after a failure will
/// be, for its log line.
pub async fn retry_until_done<F, Fut>(shutdown: &CancellationToken, mut backoff: Backoff, mut attempt: F)
where
    F: FnMut(Duration) -> Fut,
    Fut: Future<Output = Attempt>,
{
    loop {
        let delay = backoff.next_delay();
        let wait = match attempt(delay).await {
            Attempt::Done => return,
            Attempt::Retry => delay,
            Attempt::RetryIn(other) => other,
        };
        if !sleep(shutdown, wait).await {
            return;
        }
    }
}

/// Runs `tick` at once and then every `interval`, until shutdown begins.
pub async fn every<F, Fut>(shutdown: &CancellationToken, interval: Duration, mut tick: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    loop {
        tick().await;
        if !sleep(shutdown, interval).await {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap_with_jitter() {
        let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(5));
        let delays: Vec<f64> = (0..6).map(|_| backoff.next_delay().as_secs_f64()).collect();
        for (delay, nominal) in delays.iter().zip([1.0, 2.0, 4.0, 5.0, 5.0, 5.0]) {
            assert!(
                *delay >= nominal * 0.8 - 1e-9 && *delay <= (nominal * 1.2_f64).min(5.0) + 1e-9,
                "{delays:?}"
            );
        }
    }

    #[tokio::test]
    async fn retrying_stops_when_done_or_at_shutdown() {
        let shutdown = CancellationToken::new();
        let attempts = std::sync::atomic::AtomicUsize::new(0);
        retry_until_done(&shutdown, Backoff::new(Duration::ZERO, Duration::ZERO), |_| async {
            let done = attempts.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1 == 3;
            if done { Attempt::Done } else { Attempt::Retry }
        })
        .await;
        assert_eq!(attempts.into_inner(), 3);

        shutdown.cancel();
        let ticks = std::sync::atomic::AtomicUsize::new(0);
        every(&shutdown, Duration::from_secs(3600), || async {
            ticks.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        })
        .await;
        assert_eq!(ticks.into_inner(), 1, "the first tick runs, then shutdown stops it");
    }
}
