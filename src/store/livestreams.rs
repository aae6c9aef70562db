//! A session's livestreams, from the `livestreaming.statusUpdate` events recorded (see `deliveries::record`): each
//! stream with its current status, its playback URL and every transition, in the order received.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

/// The most updates of one session a reader is shown (a livestream goes live and offline a few times a session).
const MAX_UPDATES_SHOWN: i64 = 1000;

/// One livestream of a session.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Livestream {
    pub stream_id: String,
    /// The status last received: `LIVE`, `OFFLINE`, `IDLE`, or another RealtimeKit adds.
    pub status: String,
    /// The playback URL last given (an HLS URL viewers watch).
    pub playback_url: Option<String>,
    /// Every status received, oldest first.
    pub transitions: Vec<LivestreamTransition>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct LivestreamTransition {
    pub status: String,
    /// When the update was received (RealtimeKit's event carries no time of its own).
    pub at: DateTime<Utc>,
}

/// The session's livestreams, in the order they first reported.
pub async fn for_session(pool: &PgPool, session_id: &str) -> Result<Vec<Livestream>, sqlx::Error> {
    let rows: Vec<(String, String, Option<String>, DateTime<Utc>)> = sqlx::query_as(
        "SELECT stream_id, status, playback_url, received_at FROM livestream_updates
         WHERE session_id = $1 ORDER BY received_at, delivery_id LIMIT $2",
    )
    .bind(session_id)
    .bind(MAX_UPDATES_SHOWN)
    .fetch_all(pool)
    .await?;
    let mut streams: Vec<Livestream> = Vec::new();
    for (stream_id, status, playback_url, at) in rows {
        let transition = LivestreamTransition {
            status: status.clone(),
            at,
        };
        match streams.iter_mut().find(|s| s.stream_id == stream_id) {
            Some(stream) => {
                stream.status = status;
                stream.playback_url = playback_url.or(stream.playback_url.take());
                stream.transitions.push(transition);
            }
            None => streams.push(Livestream {
                stream_id,
                status,
                playback_url,
                transitions: vec![transition],
            }),
        }
    }
    Ok(streams)
}
