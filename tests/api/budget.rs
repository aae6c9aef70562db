//! One budget for every call to Cloudflare: replicas over one database stay together under the limits, a 429's
//! `retry-after` holds every one of them, and each call is counted by endpoint and status.

use std::num::NonZeroU64;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde_json::json;

use crate::cloudflare_fake::{APP, FakeCloudflare, FakeLimit, LimitScope, cloudflare_error};
use crate::helpers::{TestApp, spawn_app_with};
use rtk_sessions::{AppClients, CallBudget, CloudflareLimits, RateLimit};

fn limit(requests: u32, window_secs: u64) -> RateLimit {
    RateLimit {
        requests,
        window_secs: NonZeroU64::new(window_secs).expect("non-zero"),
    }
}

/// Limits a test can live through: 20 calls a second per token, 30 per app.
fn small_limits() -> CloudflareLimits {
    CloudflareLimits {
        token: limit(20, 1),
        app: limit(30, 1),
        recordings: limit(1000, 50),
    }
}

fn enforce_small_limits(fake: &FakeCloudflare) {
    fake.with(|s| {
        s.limits = vec![
            FakeLimit {
                per: LimitScope::Token,
                requests: 20,
                window: Duration::from_secs(1),
            },
            FakeLimit {
                per: LimitScope::App,
                requests: 30,
                window: Duration::from_secs(1),
            },
            FakeLimit {
                per: LimitScope::Recordings,
                requests: 1000,
                window: Duration::from_secs(50),
            },
        ]
    });
}

async fn app(fake: &FakeCloudflare) -> TestApp {
    spawn_app_with(|settings| {
        fake.configure(settings);
        settings.reconcile.enabled = false;
        settings.registration.enabled = false;
        settings.realtimekit.limits = small_limits();
    })
    .await
}

/// A replica's clients over the app's database: what `serve` holds.
fn replica(app: &TestApp, budget: CallBudget) -> AppClients {
    AppClients::from_settings(&app.settings.realtimekit, reqwest::Client::new())
        .expect("clients")
        .with_budget(budget)
}

/// One replica backfills 2,000 sessions while another asks about sessions one by one.
async fn backfill_beside_lookups(app: &TestApp, backfilling: &AppClients, looking_up: &AppClients) -> u64 {
    let since = chrono::Utc::now() - chrono::TimeDelta::days(3650);
    let jobs = app.job_specs();
    let backfill = rtk_sessions::reconcile_sweep(&app.db, backfilling, None, since, &jobs, 0);
    let (_, client) = looking_up.for_app(Some(APP)).expect("client");
    let lookups = join_all((0..40).map(|n| async move { client.get_session(&format!("s-{n}")).await }));
    let (report, answers) = tokio::join!(backfill, lookups);
    assert!(answers.iter().all(Result::is_ok), "every lookup answered");
    report.expect("the backfill finishes").recorded
}

fn with_sessions(fake: &FakeCloudflare, count: usize) {
    fake.with(|s| {
        for n in 0..count {
            s.sessions.push(json!({
                "id": format!("s-{n}"), "associated_id": format!("m-{n}"), "status": "ENDED",
                "organization_id": APP, "started_at": "2026-06-03T10:00:00Z", "ended_at": "2026-06-03T10:30:00Z"
            }));
        }
    });
}

#[tokio::test]
async fn replicas_sharing_the_budget_backfill_thousands_of_sessions_without_a_single_429() {
    let fake = FakeCloudflare::start().await;
    let app = app(&fake).await;
    with_sessions(&fake, 2000);
    enforce_small_limits(&fake);
    let limits = small_limits();
    let (one, two) = (
        replica(&app, CallBudget::shared(app.db.clone(), &limits)),
        replica(&app, CallBudget::shared(app.db.clone(), &limits)),
    );

    let recorded = backfill_beside_lookups(&app, &one, &two).await;

    assert_eq!(recorded, 2000);
    let (calls, limited) = fake.with(|s| (s.calls.len(), s.rate_limited));
    assert_eq!(limited, 0, "no 429 in {calls} calls");
    assert!(calls >= 60, "20 pages and 40 lookups: {calls}");
}

#[tokio::test]
async fn replicas_each_on_their_own_budget_meet_the_limits_and_honour_the_retry_after() {
    let fake = FakeCloudflare::start().await;
    let app = app(&fake).await;
    with_sessions(&fake, 2000);
    enforce_small_limits(&fake);
    let limits = small_limits();
    let (one, two) = (
        replica(&app, CallBudget::local(&limits)),
        replica(&app, CallBudget::local(&limits)),
    );

    let recorded = backfill_beside_lookups(&app, &one, &two).await;

    assert_eq!(recorded, 2000, "the 429s were waited out and retried");
    assert!(fake.with(|s| s.rate_limited) > 0, "the fake enforces the limits");
}

#[tokio::test]
async fn a_429_holds_every_replica_for_its_retry_after_and_calls_are_counted() {
    let fake = FakeCloudflare::start().await;
    let app = app(&fake).await;
    with_sessions(&fake, 1);
    fake.script([cloudflare_error(429, 10429, "Rate limited").insert_header("retry-after", "2")]);
    let limits = small_limits();
    let (one, two) = (
        replica(&app, CallBudget::shared(app.db.clone(), &limits)),
        replica(&app, CallBudget::shared(app.db.clone(), &limits)),
    );
    let (_, first) = one.for_app(Some(APP)).expect("client");
    let (_, second) = two.for_app(Some(APP)).expect("client");

    let start = Instant::now();
    let first_call = first.get_session("s-0");
    let second_call = async {
        // Sent once the first has met its 429.
        tokio::time::sleep(Duration::from_millis(500)).await;
        second.get_session("s-0").await
    };
    let (first_answer, second_answer) = tokio::join!(first_call, second_call);

    assert!(first_answer.is_ok() && second_answer.is_ok());
    assert!(
        start.elapsed() >= Duration::from_millis(1900),
        "both waited out the retry-after: {:?}",
        start.elapsed()
    );
    let calls = fake.with(|s| s.calls.len());
    assert_eq!(calls, 3, "the 429, then one call each");

    let metrics = app.get_authorized("/metrics").await.text().await.expect("metrics");
    for expected in [
        r#"rtk_cloudflare_requests_total{endpoint="GET /sessions/{id}",status="429"}"#,
        r#"rtk_cloudflare_requests_total{endpoint="GET /sessions/{id}",status="200"}"#,
        "rtk_cloudflare_budget_wait_seconds_count",
    ] {
        assert!(metrics.contains(expected), "{expected} in:\n{metrics}");
    }
}
