//! Session reports, written by the `report` follow-up and read by `GET /sessions/{id}/report`.

use sqlx::PgPool;
use sqlx::types::Json;

use crate::domain::report::Report;

pub async fn upsert(pool: &PgPool, report: &Report) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO session_reports (session_id, report, generated_at) VALUES ($1, $2, now())
         ON CONFLICT (session_id) DO UPDATE SET report = EXCLUDED.report, generated_at = now()",
    )
    .bind(&report.session_id)
    .bind(Json(report))
    .execute(pool)
    .await
    .map(drop)
}

pub async fn get(pool: &PgPool, session_id: &str) -> Result<Option<Report>, sqlx::Error> {
    let row: Option<(Json<Report>,)> = sqlx::query_as("SELECT report FROM session_reports WHERE session_id = $1")
        .bind(session_id)
        .fetch_optional(pool)
        .await?;
    Ok(row.map(|(Json(report),)| report))
}
