//! A session report: who took part, for how long, and what the session consumed. Built by the `report` follow-up,
//! kept in the store, served by `GET /sessions/{id}/report`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReportParticipant {
    pub name: Option<String>,
    pub custom_participant_id: Option<String>,
    pub joined_at: Option<DateTime<Utc>>,
    pub left_at: Option<DateTime<Utc>>,
    pub minutes: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Report {
    pub session_id: String,
    pub meeting_id: String,
    pub meeting_title: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: DateTime<Utc>,
    pub participant_count: usize,
    pub total_participant_minutes: f64,
    pub peak_concurrency: u64,
    pub minutes_consumed: Option<f64>,
    pub participants: Vec<ReportParticipant>,
    /// The meeting's AI summary (text or Markdown), once archived.
    #[serde(default)]
    pub summary: Option<String>,
    /// The service's own links to the archived recordings and transcript.
    #[serde(default)]
    pub links: Vec<ReportLink>,
    pub generated_at: DateTime<Utc>,
}

/// A link to an archived artifact, served by this service (`GET /sessions/{id}/artifacts/...`, with a token).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReportLink {
    /// `recording` or `transcript`.
    pub kind: String,
    pub url: String,
}
