//! rtk-sessions: a verified, durable, idempotent receiver for Cloudflare RealtimeKit `meeting.ended` webhooks, and
//! the `/sessions` API over what it recorded.

pub mod background;
pub mod cli;
pub mod config;
pub mod dev;
pub mod domain;
pub mod followups;
pub mod http;
pub mod ingest;
pub mod observability;
pub mod realtimekit;
pub mod reconcile;
pub mod retention;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod worker;
