//! Prometheus metrics: the recorder, and the names the service records under. It imports nothing else of the
//! service, so that every layer can record; the gauges that come from the database are sampled in `startup`.
//!
//! Names follow Prometheus conventions (`_total` counters, `_seconds` in base units) and every label has a bounded
//! set of values: routes are the matched route templates, never raw paths.

use std::sync::OnceLock;
use std::time::Duration;

use axum::http::{Method, StatusCode};
use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::domain::artifact::{ArtifactKind, ArtifactState};
use crate::domain::job::FollowupKind;

pub const DELIVERIES: &str = "rtk_deliveries_total";
pub const LAST_DELIVERY: &str = "rtk_last_delivery_received_timestamp_seconds";
pub const WEBHOOK_APP_MISMATCHES: &str = "rtk_delivery_webhook_app_mismatches_total";
pub const DELIVERIES_REJECTED: &str = "rtk_deliveries_rejected_total";
pub const SIGNATURE_FAILURES: &str = "rtk_signature_verification_failures_total";
pub const KEY_REFETCHES: &str = "rtk_public_key_refetches_total";
pub const HTTP_DURATION: &str = "rtk_http_request_duration_seconds";
pub const INGEST_BATCH_SIZE: &str = "rtk_ingest_batch_size";
pub const DB_POOL_CONNECTIONS: &str = "rtk_db_pool_connections";
pub const FOLLOWUP_ATTEMPTS: &str = "rtk_followup_attempts_total";
pub const FOLLOWUP_JOBS: &str = "rtk_followup_jobs";
pub const FOLLOWUP_OLDEST_DUE_AGE: &str = "rtk_followup_oldest_due_job_age_seconds";
pub const REGISTRATION_STATE: &str = "rtk_webhook_registration_state";
pub const RECONCILED_SESSIONS: &str = "rtk_reconciliation_sessions_total";
pub const RECONCILIATION_SWEEPS: &str = "rtk_reconciliation_sweeps_total";
pub const RETENTION_DELETED: &str = "rtk_retention_deleted_deliveries_total";
pub const HTTP_CONNECTIONS: &str = "rtk_http_open_connections";
pub const READINESS_DATABASE_CHECKS: &str = "rtk_readiness_database_checks_total";
pub const HTTP_CONNECTIONS_CLOSED: &str = "rtk_http_connections_closed_by_server_total";
pub const ARTIFACTS: &str = "rtk_artifacts";
pub const ARTIFACTS_ARCHIVED_BYTES: &str = "rtk_artifacts_archived_bytes_total";
pub const ARTIFACTS_LOST: &str = "rtk_artifacts_lost_total";
pub const ARTIFACTS_SOONEST_EXPIRY: &str = "rtk_artifacts_unarchived_soonest_expiry_seconds";
pub const CLOUDFLARE_REQUESTS: &str = "rtk_cloudflare_requests_total";
pub const CLOUDFLARE_BUDGET_WAIT: &str = "rtk_cloudflare_budget_wait_seconds";
pub const ARCHIVE_WRITABLE: &str = "rtk_archive_writable";
pub const POSTGRES_SHARED_BUFFERS: &str = "rtk_postgres_shared_buffers_bytes";
pub const POSTGRES_RANDOM_INDEXES: &str = "rtk_postgres_random_insert_index_bytes";

/// The process-wide recorder (installed once; every application in the process shares it).
pub fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full(HTTP_DURATION.into()),
                &[
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                ],
            )
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Full(INGEST_BATCH_SIZE.into()),
                    &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0],
                )
            })
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Full(CLOUDFLARE_BUDGET_WAIT.into()),
                    &[0.0, 0.01, 0.1, 0.5, 1.0, 5.0, 15.0, 30.0, 60.0],
                )
            })
            .expect("valid buckets");
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        // Another recorder may already be installed (a test harness); then metrics go there and this renders empty.
        let _ = metrics::set_global_recorder(recorder);
        describe();
        handle
    })
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        DELIVERIES,
        "Verified deliveries, by outcome (stored, duplicate, ignored, unprocessable, foreign) and configured app."
    );
    describe_counter!(
        WEBHOOK_APP_MISMATCHES,
        "Deliveries sent through the webhook registered for an app whose signed body names another app."
    );
    describe_counter!(DELIVERIES_REJECTED, "Webhook requests not recorded, by reason.");
    describe_counter!(
        SIGNATURE_FAILURES,
        "Signatures that did not verify against the current key."
    );
    describe_counter!(
        KEY_REFETCHES,
        "Fetches of RealtimeKit's public key after a failed signature, by result."
    );
    describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "HTTP request latency, by route, method and status."
    );
    describe_histogram!(INGEST_BATCH_SIZE, "Deliveries recorded per transaction (group commit).");
    describe_gauge!(
        DB_POOL_CONNECTIONS,
        "Database pool connections, by state (idle, in_use, max)."
    );
    describe_counter!(
        FOLLOWUP_ATTEMPTS,
        "Follow-up attempts, by kind and outcome (succeeded, retry, dead)."
    );
    describe_gauge!(FOLLOWUP_JOBS, "Follow-up jobs by status (due, waiting, running, dead).");
    describe_gauge!(
        FOLLOWUP_OLDEST_DUE_AGE,
        Unit::Seconds,
        "How long the oldest due follow-up job has waited."
    );
    describe_gauge!(
        POSTGRES_SHARED_BUFFERS,
        Unit::Bytes,
        "Postgres's shared_buffers setting."
    );
    describe_gauge!(
        POSTGRES_RANDOM_INDEXES,
        Unit::Bytes,
        "The indexes that take each new session, job and delivery at a random place; ingest slows as history grows \
         once they outgrow half of shared_buffers."
    );
    describe_gauge!(
        REGISTRATION_STATE,
        "1 for the webhook registration's current state, 0 for the others."
    );
    describe_counter!(
        RECONCILED_SESSIONS,
        "Sessions seen by reconciliation sweeps, by result."
    );
    describe_counter!(
        RECONCILIATION_SWEEPS,
        "Reconciliation sweeps, by result (done, skipped, failed)."
    );
    describe_counter!(RETENTION_DELETED, "Delivery rows removed by the retention sweep.");
    describe_gauge!(HTTP_CONNECTIONS, "Open HTTP connections on the main port.");
    describe_counter!(
        READINESS_DATABASE_CHECKS,
        "Database queries made for /readyz (at most one a second, whoever calls)."
    );
    describe_gauge!(
        ARTIFACTS,
        "Artifacts (recordings, transcripts, summaries, chats) by state (announced, archiving, archived, failed, lost)."
    );
    describe_counter!(
        ARTIFACTS_ARCHIVED_BYTES,
        Unit::Bytes,
        "Bytes copied to the archive store, by artifact kind."
    );
    describe_counter!(
        ARTIFACTS_LOST,
        "Artifacts RealtimeKit no longer has (or never produced), by kind."
    );
    describe_gauge!(
        ARTIFACTS_SOONEST_EXPIRY,
        Unit::Seconds,
        "Time left before the soonest-expiring unarchived artifact is deleted by RealtimeKit (negative: expired; \
         NaN: nothing waits). Alert below 48 h."
    );
    describe_counter!(
        CLOUDFLARE_REQUESTS,
        "Calls to the Cloudflare API, by endpoint (ids as {id}) and status (the code, or network)."
    );
    describe_histogram!(
        CLOUDFLARE_BUDGET_WAIT,
        Unit::Seconds,
        "Time each Cloudflare call waited for budget under realtimekit.limits (a 429's retry-after included)."
    );
    describe_gauge!(
        ARCHIVE_WRITABLE,
        "1 while the archive store takes writes (its check at start and every 5 minutes, and every copy), 0 once \
         one failed; absent without an archive."
    );
    describe_counter!(
        HTTP_CONNECTIONS_CLOSED,
        "Connections the server closed for want of a request, by reason (header_timeout, idle_timeout)."
    );
}

/// Every series whose labels are known at start, at zero (or left as it is, when it already counts): a dashboard
/// or an alert over `rate()` or `increase()` then sees 0 from the first scrape, not "no data" until the first event.
/// `apps` are the configured apps' ids (none: deliveries count under `app=""`); `kinds` the enabled follow-ups'.
pub fn series_from_start(apps: &[String], kinds: &[FollowupKind]) {
    let unconfigured = [String::new()];
    let apps = if apps.is_empty() { &unconfigured[..] } else { apps };
    for app in apps {
        for outcome in ["stored", "duplicate", "ignored", "unprocessable", "foreign"] {
            counter!(DELIVERIES, "outcome" => outcome, "app" => app.clone()).increment(0);
        }
        counter!(WEBHOOK_APP_MISMATCHES, "app" => app.clone()).increment(0);
        if !app.is_empty() {
            for result in ["recorded", "already_known", "unusable"] {
                counter!(RECONCILED_SESSIONS, "app" => app.clone(), "result" => result).increment(0);
            }
        }
    }
    // A histogram is listed (count 0) once it is registered.
    let _ = histogram!(INGEST_BATCH_SIZE);
    let _ = histogram!(CLOUDFLARE_BUDGET_WAIT);
    for reason in [
        "missing_signature",
        "malformed_signature",
        "invalid_signature",
        "key_unavailable",
        "key_refetch_pending",
        "payload_too_large",
        "unreadable_body",
        "body_timeout",
        "storage_unavailable",
        "overloaded",
        "timeout",
    ] {
        counter!(DELIVERIES_REJECTED, "reason" => reason).increment(0);
    }
    for result in ["changed", "unchanged", "failed"] {
        counter!(KEY_REFETCHES, "result" => result).increment(0);
    }
    for kind in kinds {
        for outcome in ["succeeded", "retry", "dead", "postponed"] {
            counter!(FOLLOWUP_ATTEMPTS, "kind" => kind.as_str(), "outcome" => outcome).increment(0);
        }
    }
    for result in ["done", "skipped", "failed"] {
        counter!(RECONCILIATION_SWEEPS, "result" => result).increment(0);
    }
    for reason in ["header_timeout", "idle_timeout"] {
        counter!(HTTP_CONNECTIONS_CLOSED, "reason" => reason).increment(0);
    }
    for kind in ArtifactKind::ALL {
        counter!(ARTIFACTS_ARCHIVED_BYTES, "kind" => kind.as_str()).increment(0);
        counter!(ARTIFACTS_LOST, "kind" => kind.as_str()).increment(0);
    }
    for counter in [SIGNATURE_FAILURES, READINESS_DATABASE_CHECKS, RETENTION_DELETED] {
        counter!(counter).increment(0);
    }
    gauge!(HTTP_CONNECTIONS).increment(0.0);
    // The gauges read from the database, until the first sample replaces them (the database may still be migrating).
    for status in ["due", "waiting", "running", "dead"] {
        gauge!(FOLLOWUP_JOBS, "status" => status).increment(0.0);
    }
    for state in ArtifactState::ALL {
        gauge!(ARTIFACTS, "state" => state.as_str()).increment(0.0);
    }
    gauge!(FOLLOWUP_OLDEST_DUE_AGE).increment(0.0);
    gauge!(ARTIFACTS_SOONEST_EXPIRY).set(f64::NAN);
}

pub fn archive_writable(writable: bool) {
    gauge!(ARCHIVE_WRITABLE).set(if writable { 1.0 } else { 0.0 });
}

/// Times an answered request under its route template. Labels come from fixed sets whatever a client sends: the
/// matched route template or `unmatched`, a standard method or `other`, and the status we answered.
pub fn http_answered(route: &str, method: &Method, status: StatusCode, took: Duration) {
    histogram!(HTTP_DURATION, "route" => route.to_owned(), "method" => method_label(method), "status" => status.as_str().to_owned())
        .record(took.as_secs_f64());
}

/// The standard methods by name; anything a client invents is `other`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

/// Counts an open connection until the guard is dropped.
pub fn connection_opened() -> OpenConnection {
    gauge!(HTTP_CONNECTIONS).increment(1.0);
    OpenConnection
}

pub struct OpenConnection;

impl Drop for OpenConnection {
    fn drop(&mut self) {
        gauge!(HTTP_CONNECTIONS).decrement(1.0);
    }
}

pub fn connection_closed_by_server(reason: &'static str) {
    counter!(HTTP_CONNECTIONS_CLOSED, "reason" => reason).increment(1);
}

// One function per metric: the only place a metric is recorded, with its labels.

/// `app` is a configured app's id, or empty (no app is configured, or the delivery is not one of theirs): the
/// label's values are bounded by the configuration.
pub fn delivery(outcome: &'static str, app: &str) {
    let now = unix_seconds(std::time::SystemTime::now());
    if app.is_empty() {
        // No allocation for the label when there is no app to name (no app configured, or a foreign delivery).
        counter!(DELIVERIES, "outcome" => outcome, "app" => "").increment(1);
        gauge!(LAST_DELIVERY, "app" => "").set(now);
    } else {
        counter!(DELIVERIES, "outcome" => outcome, "app" => app.to_owned()).increment(1);
        gauge!(LAST_DELIVERY, "app" => app.to_owned()).set(now);
    }
}

/// When the last delivery of `app` (labelled as in [`delivery`]) was received, as the database says at start: the
/// silence alert then holds across restarts. 0 when none was received.
pub fn last_delivery_received(app: &str, at: Option<std::time::SystemTime>) {
    gauge!(LAST_DELIVERY, "app" => app.to_owned()).set(at.map_or(0.0, unix_seconds));
}

fn unix_seconds(at: std::time::SystemTime) -> f64 {
    at.duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// A delivery that came through the webhook we registered for `webhook_app` but names another app. The signed app
/// id is the one trusted; this says that the header and the body disagree, which should never happen.
pub fn webhook_app_mismatch(webhook_app: &str) {
    counter!(WEBHOOK_APP_MISMATCHES, "app" => webhook_app.to_owned()).increment(1);
}

pub fn rejected(reason: &'static str) {
    counter!(DELIVERIES_REJECTED, "reason" => reason).increment(1);
}

pub fn readiness_database_check() {
    counter!(READINESS_DATABASE_CHECKS).increment(1);
}

pub fn signature_failure() {
    counter!(SIGNATURE_FAILURES).increment(1);
}

/// `changed`, `unchanged` or `failed`.
pub fn key_refetch(result: &'static str) {
    counter!(KEY_REFETCHES, "result" => result).increment(1);
}

/// `kind` is a configured follow-up kind; `outcome` is `succeeded`, `retry` or `dead`.
pub fn followup_attempt(kind: FollowupKind, outcome: &'static str) {
    counter!(FOLLOWUP_ATTEMPTS, "kind" => kind.as_str(), "outcome" => outcome).increment(1);
}

/// `endpoint` is a template (see `realtimekit::client`), `status` a code or `network`: both bounded.
pub fn cloudflare_request(endpoint: &str, status: &str) {
    counter!(CLOUDFLARE_REQUESTS, "endpoint" => endpoint.to_owned(), "status" => status.to_owned()).increment(1);
}

pub fn cloudflare_budget_wait(waited: std::time::Duration) {
    histogram!(CLOUDFLARE_BUDGET_WAIT).record(waited.as_secs_f64());
}

pub fn retention_deleted(rows: u64) {
    counter!(RETENTION_DELETED).increment(rows);
}

pub fn ingest_batch(size: usize) {
    histogram!(INGEST_BATCH_SIZE).record(size as f64);
}

/// `recorded`, `already_known` or `unusable`, for a configured app.
pub fn reconciled_sessions(app: &str, result: &'static str, count: u64) {
    counter!(RECONCILED_SESSIONS, "app" => app.to_owned(), "result" => result).increment(count);
}

/// `done`, `skipped` or `failed`.
pub fn reconciliation_sweep(result: &'static str) {
    counter!(RECONCILIATION_SWEEPS, "result" => result).increment(1);
}

/// 1 for `current`, 0 for the other registration states, for a configured app (empty: registration is off).
pub fn registration_state(app: &str, current: &str) {
    for state in ["disabled", "pending", "registered", "failed"] {
        gauge!(REGISTRATION_STATE, "app" => app.to_owned(), "state" => state).set(if state == current {
            1.0
        } else {
            0.0
        });
    }
}

pub fn pool_connections(idle: u32, size: u32, max: u32) {
    gauge!(DB_POOL_CONNECTIONS, "state" => "idle").set(f64::from(idle));
    gauge!(DB_POOL_CONNECTIONS, "state" => "in_use").set(f64::from(size.saturating_sub(idle)));
    gauge!(DB_POOL_CONNECTIONS, "state" => "max").set(f64::from(max));
}

/// `status` is `due`, `waiting`, `running` or `dead`.
pub fn followup_jobs(status: String, count: i64) {
    gauge!(FOLLOWUP_JOBS, "status" => status).set(count as f64);
}

pub fn followup_oldest_due_age(seconds: f64) {
    gauge!(FOLLOWUP_OLDEST_DUE_AGE).set(seconds);
}

/// Sampled from the database; not set until the first sample, as a guess would mislead.
pub fn postgres_buffer_fit(shared_buffers_bytes: i64, random_index_bytes: i64) {
    gauge!(POSTGRES_SHARED_BUFFERS).set(shared_buffers_bytes as f64);
    gauge!(POSTGRES_RANDOM_INDEXES).set(random_index_bytes as f64);
}

pub fn artifacts(state: ArtifactState, count: i64) {
    gauge!(ARTIFACTS, "state" => state.as_str()).set(count as f64);
}

pub fn artifact_archived(kind: ArtifactKind, bytes: u64) {
    counter!(ARTIFACTS_ARCHIVED_BYTES, "kind" => kind.as_str()).increment(bytes);
}

pub fn artifact_lost(kind: ArtifactKind) {
    counter!(ARTIFACTS_LOST, "kind" => kind.as_str()).increment(1);
}

/// `None` when no unarchived artifact has an expiry: NaN, which no threshold alert fires on, rather than a stale
/// value.
pub fn artifacts_soonest_expiry(seconds: Option<f64>) {
    match seconds {
        Some(seconds) => gauge!(ARTIFACTS_SOONEST_EXPIRY).set(seconds),
        None => gauge!(ARTIFACTS_SOONEST_EXPIRY).set(f64::NAN),
    }
}
