//! Connecting to Postgres, creating the database when it does not exist, and applying the migrations.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, Executor, PgPool};

use crate::config::DatabaseSettings;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

pub fn connect_options(settings: &DatabaseSettings) -> anyhow::Result<PgConnectOptions> {
    let options = PgConnectOptions::from_str(settings.url.expose())
        .map_err(|_| anyhow::anyhow!("database.url is not a valid postgres:// connection URL"))?;
    // Statements are logged at debug level only: at info they would flood the log under load.
    Ok(options
        .application_name("rtk-sessions")
        .log_statements(tracing::log::LevelFilter::Debug)
        .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_secs(1)))
}

/// A pool that connects on first use, so the service starts (and reports itself unready) while Postgres is down.
pub fn lazy_pool(settings: &DatabaseSettings) -> anyhow::Result<PgPool> {
    Ok(PgPoolOptions::new()
        .max_connections(settings.max_connections.get())
        .acquire_timeout(settings.acquire_timeout)
        .connect_lazy_with(connect_options(settings)?))
}

/// A pool of one connection for the readiness probe, so that checking the database never takes a connection the
/// writers need.
pub fn probe_pool(settings: &DatabaseSettings) -> anyhow::Result<PgPool> {
    Ok(PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(2))
        .idle_timeout(Duration::from_secs(60))
        .connect_lazy_with(connect_options(settings)?))
}

/// Why a command that only uses the database cannot: it does not exist, is not migrated, or is not reachable.
#[derive(Debug, thiserror::Error)]
pub enum NotReady {
    #[error("the database {database:?} does not exist; run `rtk-sessions migrate` (or `serve`) first to create it")]
    Missing { database: String },
    #[error(
        "the database {database:?} lacks {pending} of its {total} migrations; run `rtk-sessions migrate` (or `serve`) \
         first"
    )]
    NotMigrated {
        database: String,
        pending: usize,
        total: usize,
    },
    #[error("cannot connect to the database {database:?} at {server}: {cause}; is Postgres running there?")]
    Unreachable {
        database: String,
        server: String,
        cause: String,
    },
    #[error("the database {database:?} refused the connection: {cause}")]
    Refused { database: String, cause: String },
}

/// A pool on a database that exists and is migrated, for the commands that only use it: unlike `serve` and
/// `migrate`, they never create a database or change its schema.
pub async fn existing_pool(settings: &DatabaseSettings) -> anyhow::Result<PgPool> {
    let options = connect_options(settings)?;
    let database = options.get_database().unwrap_or("postgres").to_owned();
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(settings.acquire_timeout)
        .connect_with(options.clone())
        .await
        .map_err(|error| not_ready(&options, &database, error))?;
    let migrated: bool = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
        .fetch_one(&pool)
        .await?;
    let applied: i64 = if migrated {
        sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success")
            .fetch_one(&pool)
            .await?
    } else {
        0
    };
    let total = MIGRATOR.iter().count();
    let pending = total.saturating_sub(usize::try_from(applied).unwrap_or(0));
    if pending > 0 {
        return Err(NotReady::NotMigrated {
            database,
            pending,
            total,
        }
        .into());
    }
    Ok(pool)
}

/// Creates the database if it does not exist, then applies the pending migrations. Safe to run from several
/// replicas at once: creation tolerates losing the race, and sqlx serialises migrations with an advisory lock.
pub async fn prepare(settings: &DatabaseSettings, pool: &PgPool) -> anyhow::Result<()> {
    create_database_if_missing(settings).await?;
    MIGRATOR.run(pool).await.context("applying the database migrations")?;
    Ok(())
}

async fn create_database_if_missing(settings: &DatabaseSettings) -> anyhow::Result<()> {
    let options = connect_options(settings)?;
    let Some(name) = options.get_database().map(str::to_owned) else {
        return Ok(()); // The server's default database: it exists.
    };
    // Connecting to the database itself is the usual case, and needs no rights to other databases.
    match options.connect().await {
        Ok(connection) => {
            let _ = connection.close().await;
            return Ok(());
        }
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("3D000") => {}
        Err(e) => return Err(not_ready(&options, &name, e).into()),
    }
    let mut maintenance = options
        .clone()
        .database("postgres")
        .connect()
        .await
        .map_err(|e| not_ready(&options, "postgres", e))
        .context(format!(
            "connecting to the maintenance database to create the database {name:?}"
        ))?;
    let statement = format!("CREATE DATABASE \"{}\"", name.replace('"', "\"\""));
    match maintenance.execute(statement.as_str()).await {
        Ok(_) => tracing::info!(database = %name, "created the database"),
        // Another replica created it first.
        Err(sqlx::Error::Database(e)) if matches!(e.code().as_deref(), Some("42P04") | Some("23505")) => {}
        Err(e) => return Err(e).with_context(|| format!("creating the database {name}")),
    }
    let _ = maintenance.close().await;
    Ok(())
}

/// A connection failure, said once: sqlx's own text repeats its cause ("Connection refused: Connection refused").
fn not_ready(options: &PgConnectOptions, database: &str, error: sqlx::Error) -> NotReady {
    match error {
        sqlx::Error::Database(e) if e.code().as_deref() == Some("3D000") => NotReady::Missing {
            database: database.to_owned(),
        },
        sqlx::Error::Database(e) => NotReady::Refused {
            database: database.to_owned(),
            cause: e.message().to_owned(),
        },
        other => NotReady::Unreachable {
            database: database.to_owned(),
            server: format!("{}:{}", options.get_host(), options.get_port()),
            cause: other.to_string(),
        },
    }
}

/// Whether the database has been created and migrated by this process; background work waits for it.
#[derive(Clone)]
pub struct DatabaseReadiness(Arc<tokio::sync::watch::Sender<bool>>);

impl Default for DatabaseReadiness {
    fn default() -> Self {
        Self(Arc::new(tokio::sync::watch::Sender::new(false)))
    }
}

impl DatabaseReadiness {
    pub fn mark_prepared(&self) {
        self.0.send_replace(true);
    }

    pub fn is_prepared(&self) -> bool {
        *self.0.borrow()
    }

    pub async fn wait_until_prepared(&self) {
        let mut receiver = self.0.subscribe();
        let _ = receiver.wait_for(|prepared| *prepared).await;
    }
}

/// How Postgres's shared buffers compare with the indexes that take each new row at a random place: the session id
/// and meeting id of `sessions`, the follow-up jobs' occurrence key, and the unique keys of the month of deliveries
/// being written. While these stay in the buffers, no insert waits for a page read back from the operating system;
/// once they outgrow them, ingest slows as the history grows (docs/PERFORMANCE.md, "History on a sized Postgres").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BufferFit {
    pub shared_buffers_bytes: i64,
    pub random_index_bytes: i64,
}

impl BufferFit {
    /// More than half the buffers: the rows, the other indexes and this month's deliveries need the rest.
    pub fn outgrown(&self) -> bool {
        self.random_index_bytes > self.shared_buffers_bytes / 2
    }
}

/// The indexes that take each new row at a random place, as a query of their `index` (a regclass, NULL for one that
/// does not exist): the sessions' id and meeting id, the jobs' occurrence key, this month's two delivery keys.
/// Every delivery writes into them wherever its keys fall, so ingest keeps its speed only while they stay in shared
/// buffers.
const RANDOM_INSERT_INDEXES: &str = "
    SELECT to_regclass(name) AS index
    FROM (SELECT 'deliveries_' || to_char(now() AT TIME ZONE 'UTC', 'YYYYMM') AS month) AS this,
         unnest(ARRAY['sessions_pkey', 'sessions_meeting_id_idx', 'followup_jobs_occurrence_key',
                      month || '_delivery_id_key', month || '_body_sha256_key']) AS name";

/// The names of the [`RANDOM_INSERT_INDEXES`] that exist.
pub async fn random_insert_indexes(pool: &PgPool) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(&format!(
        "SELECT index::text FROM ({RANDOM_INSERT_INDEXES}) AS random WHERE index IS NOT NULL"
    ))
    .fetch_all(pool)
    .await
}

/// Reads [`BufferFit`]: the setting and the indexes' sizes (a stat of their files; no row is read).
pub async fn buffer_fit(pool: &PgPool) -> Result<BufferFit, sqlx::Error> {
    let (shared_buffers_bytes, random_index_bytes) = sqlx::query_as(&format!(
        "SELECT pg_size_bytes(current_setting('shared_buffers')),
                coalesce(sum(pg_relation_size(index)), 0)::int8
         FROM ({RANDOM_INSERT_INDEXES}) AS random"
    ))
    .fetch_one(pool)
    .await?;
    Ok(BufferFit {
        shared_buffers_bytes,
        random_index_bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::BufferFit;

    #[test]
    fn the_buffers_are_outgrown_once_the_random_indexes_hold_more_than_half_of_them() {
        let fit = |random_index_bytes| BufferFit {
            shared_buffers_bytes: 128 << 20,
            random_index_bytes,
        };
        assert!(!fit(0).outgrown());
        assert!(!fit(64 << 20).outgrown());
        assert!(fit((64 << 20) + 1).outgrown());
    }
}
