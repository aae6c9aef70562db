//! `/sessions`: one session, its participants (paged), and pages of sessions.

use reqwest::Method;
use serde::Deserialize;
use serde_json::Value;

use super::transport::{Repeat, data, list_in, segment};
use super::{ApiError, RealtimeKitClient};

impl RealtimeKitClient {
    /// One session; accepts the details flat in `data` or wrapped as `data.session`.
    pub async fn get_session(&self, session_id: &str) -> Result<SessionDetails, ApiError> {
        let mut envelope = self
            .call(
                Method::GET,
                &format!("sessions/{}", segment(session_id)),
                &[],
                None::<&()>,
                Repeat::Safe,
            )
            .await?;
        if let Some(wrapped) = envelope
            .data
            .as_ref()
            .and_then(|d| d.get("session"))
            .filter(|s| s.is_object())
        {
            envelope.data = Some(wrapped.clone());
        }
        data(envelope)
    }

    /// Every participant of a session, paging until a page comes back short.
    pub async fn list_session_participants(&self, session_id: &str) -> Result<Vec<Participant>, ApiError> {
        const PER_PAGE: usize = 100;
        let path = format!("sessions/{}/participants", segment(session_id));
        let mut participants = Vec::new();
        for page in 1.. {
            let query = [
                ("page_no", page.to_string()),
                ("per_page", PER_PAGE.to_string()),
                ("sort_by", "joinedAt".to_owned()),
            ];
            let envelope = self.call(Method::GET, &path, &query, None::<&()>, Repeat::Safe).await?;
            let batch: Vec<Participant> = list_in(&envelope, "participants")?;
            let count = batch.len();
            participants.extend(batch);
            if count < PER_PAGE || envelope.is_last_page(participants.len()) {
                break;
            }
        }
        Ok(participants)
    }

    /// One page of sessions; `status=ENDED` with a `start_time` lists the recently ended ones.
    pub async fn list_sessions(&self, query: &SessionQuery) -> Result<SessionPage, ApiError> {
        let mut params = vec![
            ("page_no", query.page_no.to_string()),
            ("per_page", query.per_page.to_string()),
            ("sort_by", "createdAt".to_owned()),
            ("sort_order", "DESC".to_owned()),
        ];
        if let Some(status) = &query.status {
            params.push(("status", status.clone()));
        }
        if let Some(start) = query.start_time {
            params.push(("start_time", start.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)));
        }
        if let Some(end) = query.end_time {
            params.push(("end_time", end.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)));
        }
        let envelope = self
            .call(Method::GET, "sessions", &params, None::<&()>, Repeat::Safe)
            .await?;
        let sessions: Vec<SessionDetails> = list_in(&envelope, "sessions")?;
        let last = sessions.len() < query.per_page as usize
            || envelope.is_last_page((query.page_no as usize - 1) * query.per_page as usize + sessions.len());
        Ok(SessionPage { sessions, last })
    }
}

/// A session as the Sessions API describes it.
#[derive(Debug, Clone, Deserialize)]
pub struct SessionDetails {
    pub id: String,
    #[serde(default)]
    pub associated_id: Option<String>,
    #[serde(default)]
    pub meeting_display_name: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default, deserialize_with = "lenient_opt_u64")]
    pub max_concurrent_participants: Option<u64>,
    #[serde(default, deserialize_with = "lenient_opt_f64")]
    pub minutes_consumed: Option<f64>,
    #[serde(default)]
    pub organization_id: Option<String>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub started_at: Option<String>,
    #[serde(default)]
    pub ended_at: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Participant {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default)]
    pub custom_participant_id: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub preset_name: Option<String>,
    #[serde(default)]
    pub joined_at: Option<String>,
    #[serde(default)]
    pub left_at: Option<String>,
    /// Minutes.
    #[serde(default, deserialize_with = "lenient_opt_f64")]
    pub duration: Option<f64>,
}

#[derive(Debug, Clone)]
pub struct SessionQuery {
    pub status: Option<String>,
    pub start_time: Option<chrono::DateTime<chrono::Utc>>,
    pub end_time: Option<chrono::DateTime<chrono::Utc>>,
    pub page_no: u32,
    pub per_page: u32,
}

pub struct SessionPage {
    pub sessions: Vec<SessionDetails>,
    /// No page follows this one.
    pub last: bool,
}

fn lenient_number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

pub(super) fn lenient_u64<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    Ok(lenient_number(&Value::deserialize(d)?).map_or(0, |n| n.max(0.0) as u64))
}

fn lenient_opt_u64<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(lenient_number(&Value::deserialize(d)?).map(|n| n.max(0.0) as u64))
}

fn lenient_opt_f64<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    Ok(lenient_number(&Value::deserialize(d)?))
}
