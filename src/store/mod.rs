//! SQL lives here, one file per table, next to the types it reads and writes.

pub mod artifact_checks;
pub mod artifacts;
pub mod attendance;
pub mod cloudflare_budget;
pub mod console_key;
pub mod console_sessions;
pub mod cursor;
pub mod database;
pub mod deliveries;
pub mod delivery_partitions;
pub mod followup_jobs;
pub mod followup_lists;
pub mod job_specs;
pub mod live_sessions;
pub mod livestreams;
pub mod meeting_promises;
pub mod reports;
pub mod sessions;

/// True for failures that are expected to pass (the database is down, restarting, overloaded or too slow), as
/// opposed to a bug in a statement.
pub fn is_transient(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            // 08: connection exception; 53: insufficient resources; 57P: operator intervention (shutdown,
            // restart); 40001/40P01: serialization failure, deadlock; 55P03: lock not available; 3D000: the database
            // does not exist yet; 42P01: its tables do not exist yet (migrations still pending).
            code.starts_with("08")
                || code.starts_with("53")
                || code.starts_with("57P")
                || matches!(&*code, "40001" | "40P01" | "55P03" | "3D000" | "42P01")
        }),
        _ => false,
    }
}
