//! The database check behind `/readyz`: one ping per second at most, whoever asks, on a one-connection pool of its
//! own (never one the writers need).

use std::time::Duration;

use sqlx::PgPool;
use tokio::time::Instant;

/// What `/readyz` says of a database that answers, but has no migrated schema yet.
pub const NOT_MIGRATED: &str = "the database is not created and migrated yet; see the log";

/// How long a database check answers for every caller.
const PROBE_CACHE: Duration = Duration::from_secs(1);
/// A ping that takes longer than this counts as a failure.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// The database check behind `/readyz`: one ping per second at most, whoever asks.
pub struct DatabaseProbe {
    /// One connection of its own.
    pool: PgPool,
    last: tokio::sync::Mutex<Option<(Instant, ProbeResult)>>,
}

#[derive(Clone)]
pub struct ProbeResult {
    pub failure: Option<(&'static str, String)>,
}

impl DatabaseProbe {
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            last: tokio::sync::Mutex::new(None),
        }
    }

    pub async fn check(&self) -> ProbeResult {
        // Concurrent callers queue here and share the one ping.
        let mut last = self.last.lock().await;
        if let Some((at, result)) = last.as_ref()
            && at.elapsed() < PROBE_CACHE
        {
            return result.clone();
        }
        crate::observability::readiness_database_check();
        let ping = tokio::time::timeout(PROBE_TIMEOUT, sqlx::query("SELECT 1").execute(&self.pool)).await;
        let result = match ping {
            Ok(Ok(_)) => ProbeResult { failure: None },
            // Postgres answers, but the database is not created yet: it is the migration that is missing.
            Ok(Err(sqlx::Error::Database(error))) if error.code().as_deref() == Some("3D000") => ProbeResult {
                failure: Some(("not_migrated", NOT_MIGRATED.to_owned())),
            },
            Ok(Err(error)) => {
                let detail = describe(&error);
                tracing::warn!(error = %detail, "readiness: the database does not answer");
                ProbeResult {
                    failure: Some(("unreachable", format!("unreachable: {detail}"))),
                }
            }
            Err(_) => {
                tracing::warn!("readiness: the database did not answer within 2 seconds");
                ProbeResult {
                    failure: Some(("timeout", "no answer within 2 seconds".into())),
                }
            }
        };
        *last = Some((Instant::now(), result.clone()));
        result
    }
}

/// A short description that cannot carry the connection URL (and so no password).
fn describe(error: &sqlx::Error) -> String {
    match error {
        sqlx::Error::Database(db) => db.message().to_owned(),
        sqlx::Error::PoolTimedOut => "no connection available in time".to_owned(),
        sqlx::Error::Io(io) => io.kind().to_string(),
        other => other.to_string(),
    }
}
