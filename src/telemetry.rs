//! Logging: a `RUST_LOG`-style filter (`RUST_LOG` wins over `log.level`), pretty or JSON lines, in colour only on
//! a terminal.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

use crate::config::{LogFormat, LogSettings};

/// Who logs: the service, or a one-off command, where libraries speak only of what went wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Logging {
    Service,
    Command,
}

pub fn init(settings: &LogSettings, logging: Logging) {
    // `RUST_LOG` wins over `log.level`. A plain level is ours: library chatter (sqlx's notices, say) is kept below
    // it. Directives of the operator's own are taken as written.
    let from_env = std::env::var("RUST_LOG").ok().filter(|v| !v.trim().is_empty());
    let level = from_env.as_deref().unwrap_or(&settings.level).trim();
    let directives = match (level.parse::<tracing::Level>(), logging) {
        (Ok(_), Logging::Service) => format!("{level},sqlx::postgres::notice=warn"),
        (Ok(_), Logging::Command) => format!("warn,rtk_sessions={level}"),
        (Err(_), _) => level.to_owned(),
    };
    let filter = EnvFilter::try_new(&directives).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_span_events(FmtSpan::NONE)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    // A second initialisation (tests) keeps the first subscriber.
    let _ = match settings.format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
}
