//! rtk-sessions: a verified, durable, idempotent receiver for Cloudflare RealtimeKit `meeting.ended` webhooks, and
//! the `/sessions` API over what it recorded.
//!
//! Every module is private to the crate, so the compiler reports what has no caller. The public surface below is
//! what the binary, the benchmark, the fuzz target and the black-box tests drive directly.

mod archive;
mod background;
mod cli;
mod config;
mod dev;
mod domain;
mod followups;
mod http;
mod ingest;
mod observability;
mod realtimekit;
mod reconcile;
mod retention;
mod startup;
mod store;
mod telemetry;
mod worker;

pub use cli::{Cli, run};
pub use config::{AppSettings, CloudflareLimits, FollowupSettings, RateLimit, Settings};
pub use dev::{SignedDelivery, keygen, sample_body};
pub use domain::Trigger;
pub use domain::{
    ApiToken, App, Apps, Classified, DeliveryBody, DeliveryId, Scope, Secret, WEBHOOK_PATH, classify, read_delivery,
};
pub use followups::Registry;
pub use http::auth::PUBLIC_PATHS;
pub use http::openapi::document as openapi_document;
pub use ingest::WAKE_INTERVAL as WORKER_WAKE_INTERVAL;
pub use realtimekit::client::{ApiError, AppClients, CallBudget, RealtimeKitClient, RetryPolicy, WebhookSpec};
pub use realtimekit::signature::{PublicKey, WebhookSigner, decode_signature_header};
pub use reconcile::{LiveCheckReport, SweepReport, check_live_sessions, sweep as reconcile_sweep};
pub use retention::{Swept, sweep_deliveries};
pub use startup::Application;
pub use store::artifacts::mark_expired_lost as mark_expired_artifacts_lost;
pub use store::database::{MIGRATOR, random_insert_indexes};
pub use store::deliveries::{Outcome, VerifiedDelivery, record as record_delivery, record_batch as record_deliveries};
pub use store::delivery_partitions;
pub use store::followup_jobs::{FollowupKind, JobSlots, WAKE_CHANNEL, claim as claim_jobs, fail as fail_job};
pub use store::job_specs::{JobSpec, JobSpecs};
pub use store::live_sessions::forget_ended as forget_ended_live_sessions;
pub use store::sessions::{Cursor, ListFilter, explain_list as explain_session_list};
pub use telemetry::{Logging, init as init_telemetry};
pub use worker::Worker;
