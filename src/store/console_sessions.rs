//! The console's sign-in sessions, kept on the server so that signing out ends one for good and a cookie cannot
//! outlive what the server granted.

use std::time::Duration;

use sqlx::PgPool;

/// Records a new session of `token_name`. Sessions that ended, or outlived `ttl`, more than a day ago are removed on
/// the way, so the table holds about a day of sign-ins beyond the live ones (and sign-ins are throttled).
pub async fn create(pool: &PgPool, id: &[u8; 16], token_name: &str, ttl: Duration) -> Result<(), sqlx::Error> {
    sqlx::query(
        "WITH gone AS (
             DELETE FROM console_sessions
             WHERE ended_at < now() - interval '1 day'
                OR created_at < now() - make_interval(secs => $3) - interval '1 day'
         )
         INSERT INTO console_sessions (id, token_name) VALUES ($1, $2)",
    )
    .bind(id.as_slice())
    .bind(token_name)
    .bind(ttl.as_secs_f64())
    .execute(pool)
    .await?;
    Ok(())
}

/// Whether the session is live: not ended, and younger than `ttl` (`console.session_ttl_secs` as configured now,
/// whatever the cookie says).
pub async fn is_live(pool: &PgPool, id: &[u8], token_name: &str, ttl: Duration) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (
             SELECT 1 FROM console_sessions
             WHERE id = $1 AND token_name = $2 AND ended_at IS NULL
               AND created_at > now() - make_interval(secs => $3)
         )",
    )
    .bind(id)
    .bind(token_name)
    .bind(ttl.as_secs_f64())
    .fetch_one(pool)
    .await
}

/// Ends one session (sign-out); returns how many ended (0 when it had already).
pub async fn end(pool: &PgPool, id: &[u8]) -> Result<u64, sqlx::Error> {
    let ended = sqlx::query("UPDATE console_sessions SET ended_at = now() WHERE id = $1 AND ended_at IS NULL")
        .bind(id)
        .execute(pool)
        .await?
        .rows_affected();
    Ok(ended)
}

/// Ends every live session of a token (signing out everywhere); returns how many.
pub async fn end_all_of_token(pool: &PgPool, token_name: &str) -> Result<u64, sqlx::Error> {
    let ended = sqlx::query("UPDATE console_sessions SET ended_at = now() WHERE token_name = $1 AND ended_at IS NULL")
        .bind(token_name)
        .execute(pool)
        .await?
        .rows_affected();
    Ok(ended)
}
