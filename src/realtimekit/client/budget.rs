//! One budget for every call to Cloudflare, under its documented limits (`realtimekit.limits`): per API token
//! (Cloudflare's global limit), per app (RealtimeKit's), and per app for the recording APIs. A call takes from each
//! bucket it counts against, or waits until it may; a 429's `retry-after` pauses those buckets for every caller.
//!
//! Each limit runs as a generic cell rate algorithm (GCRA): a tenth of it (at least one call) may go at once, the
//! rest is spread evenly over the window. GCRA lets at most `window / interval + burst` calls into any window, which
//! these numbers make exactly the limit. The state lives in Postgres (`store::cloudflare_budget`), so that all
//! replicas share it and its clock; a process without a database keeps it in memory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use sha2::{Digest, Sha256};
use sqlx::PgPool;

use crate::config::{CloudflareLimits, RateLimit};
use crate::domain::Secret;
use crate::store::cloudflare_budget::{self, BucketState};

/// A limit as GCRA runs it: one call per `interval`, and calls may run up to `tolerance` ahead of that pace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pace {
    interval: TimeDelta,
    tolerance: TimeDelta,
}

impl Pace {
    fn of(limit: RateLimit) -> Self {
        // `requests` is at least 2 (the configuration checks it): a burst of at least one, and a rate.
        let burst = (limit.requests / 10).max(1);
        let spread = i64::from(limit.requests.saturating_sub(burst).max(1));
        let window_us = i64::try_from(limit.window_secs.get()).unwrap_or(i64::MAX / 2_000_000) * 1_000_000;
        // Rounded up, so the pace never exceeds the limit.
        let interval = TimeDelta::microseconds((window_us + spread - 1) / spread);
        Self {
            interval,
            tolerance: interval * (i32::try_from(burst).unwrap_or(i32::MAX) - 1),
        }
    }
}

/// Whether a call may go now under each pace, given each bucket's state: the buckets' new arrival times, or how
/// long to wait (the longest any bucket asks, a pause included).
fn decide(now: DateTime<Utc>, paces: &[Pace], states: &[BucketState]) -> Result<Vec<DateTime<Utc>>, Duration> {
    let mut wait = TimeDelta::zero();
    let mut granted = Vec::with_capacity(paces.len());
    for (pace, state) in paces.iter().zip(states) {
        if let Some(paused_until) = state.paused_until {
            wait = wait.max(paused_until - now);
        }
        let tat = state.tat.map_or(now, |tat| tat.max(now));
        wait = wait.max(tat - now - pace.tolerance);
        granted.push(tat + pace.interval);
    }
    match wait.to_std() {
        Ok(wait) if !wait.is_zero() => Err(wait),
        _ => Ok(granted),
    }
}

/// The buckets one app's client takes from. The token's is named by a digest, never by the token.
#[derive(Debug, Clone)]
pub(super) struct Buckets {
    token: String,
    app: String,
    recordings: String,
}

impl Buckets {
    pub(super) fn of(app_id: &str, token: &Secret) -> Self {
        let digest = hex::encode(Sha256::digest(token.expose().as_bytes()));
        Self {
            token: format!("token:{}", &digest[..16]),
            app: format!("app:{app_id}"),
            recordings: format!("recordings:{app_id}"),
        }
    }
}

/// Why a call could not take from the budget.
#[derive(Debug, thiserror::Error)]
pub enum BudgetError {
    #[error("the Cloudflare API budget (realtimekit.limits) would have this call wait {0:?}; try again later")]
    WaitTooLong(Duration),
    #[error("the shared Cloudflare API budget could not be read: {0}")]
    Database(#[from] sqlx::Error),
}

/// Where the buckets' state is kept.
#[derive(Clone)]
enum Store {
    /// In Postgres, shared by every replica.
    Shared(PgPool),
    /// In this process only (commands and tests without a database).
    Local(Arc<Mutex<HashMap<String, BucketState>>>),
}

#[derive(Clone)]
pub struct CallBudget {
    token: Pace,
    app: Pace,
    recordings: Pace,
    store: Store,
}

impl std::fmt::Debug for CallBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.store {
            Store::Shared(_) => "shared",
            Store::Local(_) => "local",
        };
        f.debug_struct("CallBudget").field("store", &kind).finish()
    }
}

impl CallBudget {
    /// The budget every replica over this database shares.
    pub fn shared(pool: PgPool, limits: &CloudflareLimits) -> Self {
        Self::with_store(Store::Shared(pool), limits)
    }

    /// A budget of this process alone.
    pub fn local(limits: &CloudflareLimits) -> Self {
        Self::with_store(Store::Local(Arc::default()), limits)
    }

    fn with_store(store: Store, limits: &CloudflareLimits) -> Self {
        Self {
            token: Pace::of(limits.token),
            app: Pace::of(limits.app),
            recordings: Pace::of(limits.recordings),
            store,
        }
    }

    /// The buckets a call counts against, with their paces.
    fn of_call(&self, buckets: &Buckets, recordings: bool) -> (Vec<String>, Vec<Pace>) {
        let mut names = vec![buckets.token.clone(), buckets.app.clone()];
        let mut paces = vec![self.token, self.app];
        if recordings {
            names.push(buckets.recordings.clone());
            paces.push(self.recordings);
        }
        (names, paces)
    }

    /// Waits until the call may go, and returns how long it waited; fails rather than wait longer than `max_wait`.
    pub(super) async fn acquire(
        &self,
        buckets: &Buckets,
        recordings: bool,
        max_wait: Duration,
    ) -> Result<Duration, BudgetError> {
        let (names, paces) = self.of_call(buckets, recordings);
        let mut waited = Duration::ZERO;
        loop {
            let decision = match &self.store {
                Store::Shared(pool) => {
                    cloudflare_budget::take(pool, &names, |now, states| decide(now, &paces, states)).await?
                }
                Store::Local(states) => {
                    let mut states = states.lock().expect("budget state");
                    let current: Vec<BucketState> = (names.iter())
                        .map(|name| states.get(name).copied().unwrap_or_default())
                        .collect();
                    decide(Utc::now(), &paces, &current).map(|granted| {
                        for (name, tat) in names.iter().zip(granted) {
                            states.entry(name.clone()).or_default().tat = Some(tat);
                        }
                    })
                }
            };
            let Err(wait) = decision else {
                return Ok(waited);
            };
            if waited + wait > max_wait {
                return Err(BudgetError::WaitTooLong(wait));
            }
            // A little jitter, so that callers woken together do not all meet the same row lock again.
            let wait = wait + wait.mul_f64(rand::random::<f64>() * 0.05);
            tokio::time::sleep(wait).await;
            waited += wait;
        }
    }

    /// After a 429: the buckets of the call wait `for_` before any caller may use them again.
    pub(super) async fn pause(&self, buckets: &Buckets, recordings: bool, for_: Duration) -> Result<(), BudgetError> {
        let (names, _) = self.of_call(buckets, recordings);
        match &self.store {
            Store::Shared(pool) => cloudflare_budget::pause(pool, &names, for_.as_secs_f64()).await?,
            Store::Local(states) => {
                let until = Utc::now() + TimeDelta::from_std(for_).unwrap_or(TimeDelta::MAX);
                let mut states = states.lock().expect("budget state");
                for name in names {
                    let state = states.entry(name).or_default();
                    state.paused_until = Some(state.paused_until.map_or(until, |p| p.max(until)));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU64;

    use super::*;

    fn limit(requests: u32, window_secs: u64) -> RateLimit {
        RateLimit {
            requests,
            window_secs: NonZeroU64::new(window_secs).expect("non-zero"),
        }
    }

    /// Calls as fast as the pace allows, for a long while: no window of the limit's length ever holds more.
    #[test]
    fn no_window_ever_holds_more_than_the_limit() {
        for (requests, window) in [(1200, 300), (3500, 300), (1000, 50), (2, 1), (15, 2)] {
            let pace = Pace::of(limit(requests, window));
            let start = Utc::now();
            let mut state = BucketState::default();
            let mut now = start;
            let mut granted_at = Vec::new();
            while granted_at.len() < (requests as usize) * 4 {
                match decide(now, &[pace], &[state]) {
                    Ok(tats) => {
                        state.tat = Some(tats[0]);
                        granted_at.push(now);
                    }
                    Err(wait) => now += TimeDelta::from_std(wait).expect("short"),
                }
            }
            let window = TimeDelta::seconds(window as i64);
            for (i, first) in granted_at.iter().enumerate() {
                let within = granted_at[i..].iter().take_while(|at| **at - *first < window).count();
                assert!(
                    within <= requests as usize,
                    "{requests}/{window}: {within} in one window"
                );
            }
            // And the budget is used, not wasted: a burst at once, then the rest of the limit within the window.
            let first_window = granted_at.iter().take_while(|at| **at - start < window).count();
            assert!(
                first_window >= requests as usize - 1,
                "{requests}/{window}: only {first_window}"
            );
        }
    }

    #[test]
    fn a_pause_holds_every_call_until_it_ends_and_a_wait_takes_nothing() {
        let pace = Pace::of(limit(100, 10));
        let now = Utc::now();
        let paused = BucketState {
            tat: None,
            paused_until: Some(now + TimeDelta::seconds(30)),
        };
        assert_eq!(decide(now, &[pace], &[paused]), Err(Duration::from_secs(30)));
        assert!(decide(now + TimeDelta::seconds(30), &[pace], &[paused]).is_ok());
    }

    #[test]
    fn the_token_bucket_is_named_by_a_digest() {
        let buckets = Buckets::of("app-1", &Secret::new("cf-secret-token"));
        assert!(!buckets.token.contains("cf-secret-token"));
        assert_eq!(buckets.app, "app:app-1");
    }
}
