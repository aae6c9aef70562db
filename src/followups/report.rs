//! `kind = "report"`: fetches the session and its participants from RealtimeKit and stores a report: each
//! participant (name, custom id, joined, left, minutes), total participant minutes, peak concurrency, and minutes
//! consumed. A session the API does not know yet (it is eventually consistent) is retried, not failed.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::followup::{Followup, FollowupContext, FollowupError, Occurrence, options};
use crate::archive::ArchiveStore;
use crate::config::Settings;
use crate::domain::artifact::ArtifactKind;
use crate::domain::job::FollowupKind;
use crate::domain::lenient;
pub use crate::domain::report::{Report, ReportLink, ReportParticipant};
use crate::realtimekit::client::{ApiError, Participant, SessionDetails, path_segment};
use crate::store::artifacts;
use crate::store::attendance::{self, Attendee};
use crate::store::sessions::Session;
use futures_util::StreamExt;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Options {}

pub struct ReportFollowup {
    name: String,
    /// Where an archived summary is read from.
    archive: Option<ArchiveStore>,
    /// What the links to archived artifacts start with; without a public URL they are paths.
    link_base: String,
}

impl ReportFollowup {
    pub fn from_options(
        name: String,
        raw: &Map<String, Value>,
        settings: &Settings,
    ) -> Result<Arc<dyn Followup>, String> {
        let _: Options = options(raw)?;
        let archive = settings.archive.url.as_ref().map(ArchiveStore::open).transpose()?;
        let link_base = (settings.server.public_url.as_ref())
            .map(|url| url.as_str().trim_end_matches('/').to_owned())
            .unwrap_or_default();
        Ok(Arc::new(Self {
            name,
            archive,
            link_base,
        }))
    }

    /// The archived summary's text (at most [`MAX_SUMMARY_BYTES`]) and links to the archived recordings and
    /// transcript.
    async fn archived_parts(
        &self,
        session_id: &str,
        context: &FollowupContext,
    ) -> anyhow::Result<(Option<String>, Vec<ReportLink>)> {
        let base = format!("{}/sessions/{}/artifacts", self.link_base, path_segment(session_id));
        let (mut summary, mut links) = (None, Vec::new());
        for (artifact, object_key) in artifacts::archived_for_session(&context.db, session_id).await? {
            match artifact.kind {
                ArtifactKind::Recording => links.push(ReportLink {
                    kind: "recording".to_owned(),
                    url: format!("{base}/{}", artifact.download_path()),
                }),
                ArtifactKind::Transcript => links.push(ReportLink {
                    kind: "transcript".to_owned(),
                    url: format!("{base}/transcript"),
                }),
                ArtifactKind::Summary => {
                    if let Some(store) = &self.archive {
                        summary = Some(read_text(store, &object_key).await?);
                    }
                }
                ArtifactKind::Chat => {}
            }
        }
        Ok((summary, links))
    }
}

/// The most of a summary a report holds.
const MAX_SUMMARY_BYTES: usize = 64 * 1024;

async fn read_text(store: &ArchiveStore, key: &str) -> anyhow::Result<String> {
    let (_, mut stream) = store.read(key).await?;
    let mut text = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        text.extend_from_slice(&chunk[..chunk.len().min(MAX_SUMMARY_BYTES - text.len())]);
        if text.len() >= MAX_SUMMARY_BYTES {
            break;
        }
    }
    Ok(String::from_utf8_lossy(&text).into_owned())
}

fn timestamp(text: &Option<String>) -> Option<DateTime<Utc>> {
    lenient::timestamp(text.as_ref().map(|t| Value::String(t.clone())).as_ref())
}

/// Builds the report from what the API says, with the recorded session filling any gap.
pub fn build_report(session: &Session, details: &SessionDetails, participants: &[Participant]) -> Report {
    let ended_at = timestamp(&details.ended_at).unwrap_or(session.ended.ended_at);
    let participants: Vec<ReportParticipant> = participants
        .iter()
        .map(|p| {
            let joined_at = timestamp(&p.joined_at);
            let left_at = timestamp(&p.left_at);
            let computed = match (joined_at, left_at.or(Some(ended_at))) {
                (Some(joined), Some(left)) if left >= joined => (left - joined).num_milliseconds() as f64 / 60_000.0,
                _ => 0.0,
            };
            ReportParticipant {
                name: p.display_name.clone(),
                custom_participant_id: p.custom_participant_id.clone(),
                joined_at,
                left_at,
                minutes: round2(p.duration.unwrap_or(computed)),
            }
        })
        .collect();
    let total_participant_minutes = round2(participants.iter().map(|p| p.minutes).sum());
    Report {
        session_id: session.ended.session_id.clone(),
        meeting_id: session.ended.meeting_id.clone(),
        meeting_title: details
            .meeting_display_name
            .clone()
            .or_else(|| session.ended.meeting_title.clone()),
        started_at: timestamp(&details.started_at).or(session.ended.started_at),
        ended_at,
        participant_count: participants.len(),
        total_participant_minutes,
        peak_concurrency: peak_concurrency(&participants, ended_at)
            .max(details.max_concurrent_participants.unwrap_or(0)),
        minutes_consumed: details.minutes_consumed.map(round2),
        participants,
        summary: None,
        links: Vec::new(),
        generated_at: Utc::now(),
    }
}

/// The most participants present at one instant; someone who left at the moment another joined is not counted
/// twice.
fn peak_concurrency(participants: &[ReportParticipant], ended_at: DateTime<Utc>) -> u64 {
    let mut events: Vec<(DateTime<Utc>, i64)> = Vec::new();
    for p in participants {
        if let Some(joined) = p.joined_at {
            events.push((joined, 1));
            events.push((p.left_at.unwrap_or(ended_at), -1));
        }
    }
    events.sort_by_key(|&(at, delta)| (at, delta));
    let (mut present, mut peak) = (0_i64, 0_i64);
    for (_, delta) in events {
        present += delta;
        peak = peak.max(present);
    }
    peak as u64
}

fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

fn transient_or_permanent(error: ApiError, what: &str) -> FollowupError {
    if error.is_not_found() {
        FollowupError::Retryable(anyhow::anyhow!("{what}: RealtimeKit does not know the session yet"))
    } else if error.is_auth_failure() {
        FollowupError::Retryable(anyhow::anyhow!(error.describe()).context(what.to_owned()))
    } else if error.is_transient() {
        FollowupError::Retryable(anyhow::Error::new(error).context(what.to_owned()))
    } else {
        FollowupError::Permanent(anyhow::Error::new(error).context(what.to_owned()))
    }
}

#[async_trait::async_trait]
impl Followup for ReportFollowup {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> FollowupKind {
        FollowupKind::Report
    }

    fn target(&self) -> String {
        "the RealtimeKit API".to_owned()
    }

    async fn run(&self, occurrence: &Occurrence, context: &FollowupContext) -> Result<(), FollowupError> {
        let session = occurrence.ended_session()?;
        let client = context.realtimekit_for(session)?;
        let details = client
            .get_session(&session.ended.session_id)
            .await
            .map_err(|e| transient_or_permanent(e, "fetching the session"))?;
        if details
            .status
            .as_deref()
            .is_some_and(|s| s.eq_ignore_ascii_case("LIVE"))
        {
            return Err(FollowupError::Retryable(anyhow::anyhow!(
                "RealtimeKit still reports the session live"
            )));
        }
        // The participant events, when they tell the whole attendance; the Sessions API (paged, one call a page)
        // otherwise.
        let attended = attendance::for_session(&context.db, &session.ended.session_id)
            .await
            .map_err(|e| FollowupError::Retryable(anyhow::Error::new(e).context("reading the attendance")))?;
        let participants = if attendance::is_complete(&attended) {
            attended.iter().map(as_participant).collect()
        } else {
            client
                .list_session_participants(&session.ended.session_id)
                .await
                .map_err(|e| transient_or_permanent(e, "fetching the participants"))?
        };
        let mut report = build_report(session, &details, &participants);
        (report.summary, report.links) = self
            .archived_parts(&session.ended.session_id, context)
            .await
            .map_err(|e| FollowupError::Retryable(e.context("reading the archived artifacts")))?;
        crate::store::reports::upsert(&context.db, &report)
            .await
            .map_err(|e| FollowupError::Retryable(anyhow::Error::new(e).context("storing the report")))
    }
}

/// An attendance entry in the Sessions API's form, which the report is built from.
fn as_participant(attendee: &Attendee) -> Participant {
    Participant {
        id: Some(attendee.peer_id.clone()),
        user_id: None,
        custom_participant_id: attendee.custom_participant_id.clone(),
        display_name: attendee.display_name.clone(),
        preset_name: None,
        joined_at: attendee.joined_at.map(|t| t.to_rfc3339()),
        left_at: attendee.left_at.map(|t| t.to_rfc3339()),
        duration: None,
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// The report as a self-contained HTML page.
pub fn render_report_html(report: &Report) -> String {
    let time = |t: Option<DateTime<Utc>>| t.map_or("–".to_owned(), |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string());
    let title = escape(report.meeting_title.as_deref().unwrap_or(&report.meeting_id));
    let rows: String = report
        .participants
        .iter()
        .map(|p| {
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{:.2}</td></tr>",
                escape(p.name.as_deref().unwrap_or("(unnamed)")),
                escape(p.custom_participant_id.as_deref().unwrap_or("")),
                time(p.joined_at),
                time(p.left_at),
                p.minutes
            )
        })
        .collect();
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Session report: {title}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2rem;color:#222}}table{{border-collapse:collapse}}td,th{{padding:.3rem .8rem;border-bottom:1px solid #ddd;text-align:left}}.n{{text-align:right}}dt{{font-weight:600}}dd{{margin:0 0 .5rem}}</style>
</head><body>
<h1>{title}</h1>
<dl>
<dt>Session</dt><dd>{session}</dd>
<dt>Started</dt><dd>{started}</dd>
<dt>Ended</dt><dd>{ended}</dd>
<dt>Participants</dt><dd>{count}</dd>
<dt>Peak concurrency</dt><dd>{peak}</dd>
<dt>Total participant minutes</dt><dd>{total:.2}</dd>
<dt>Minutes consumed</dt><dd>{consumed}</dd>
</dl>
{summary}{links}<table><thead><tr><th>Name</th><th>Custom id</th><th>Joined</th><th>Left</th><th class="n">Minutes</th></tr></thead>
<tbody>{rows}</tbody></table>
</body></html>
"#,
        session = escape(&report.session_id),
        started = time(report.started_at),
        ended = time(Some(report.ended_at)),
        count = report.participant_count,
        peak = report.peak_concurrency,
        total = report.total_participant_minutes,
        consumed = report.minutes_consumed.map_or("–".to_owned(), |m| format!("{m:.2}")),
        summary = report.summary.as_deref().map_or(String::new(), |text| {
            format!(
                "<h2>Summary</h2>\n<pre style=\"white-space:pre-wrap\">{}</pre>\n",
                escape(text)
            )
        }),
        links = if report.links.is_empty() {
            String::new()
        } else {
            let items: String = (report.links.iter())
                .map(|l| format!("<li><a href=\"{}\">{}</a></li>", escape(&l.url), escape(&l.kind)))
                .collect();
            format!("<h2>Archived</h2>\n<ul>{items}</ul>\n")
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn participant(name: &str, joined: &str, left: Option<&str>) -> ReportParticipant {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).expect("time").with_timezone(&Utc);
        ReportParticipant {
            name: Some(name.into()),
            custom_participant_id: None,
            joined_at: Some(t(joined)),
            left_at: left.map(t),
            minutes: 0.0,
        }
    }

    #[test]
    fn peak_concurrency_counts_overlaps_and_not_hand_overs() {
        let end = DateTime::parse_from_rfc3339("2026-06-03T11:00:00Z")
            .expect("t")
            .with_timezone(&Utc);
        let participants = [
            participant("a", "2026-06-03T10:00:00Z", Some("2026-06-03T10:30:00Z")),
            participant("b", "2026-06-03T10:10:00Z", Some("2026-06-03T10:20:00Z")),
            participant("c", "2026-06-03T10:15:00Z", None),
            // Joins exactly when a leaves: a hand-over, not an overlap.
            participant("d", "2026-06-03T10:30:00Z", Some("2026-06-03T10:40:00Z")),
        ];
        assert_eq!(peak_concurrency(&participants, end), 3);
    }

    #[test]
    fn the_html_report_escapes_what_participants_chose_to_be_called() {
        let report = Report {
            session_id: "s".into(),
            meeting_id: "m".into(),
            meeting_title: Some("<script>x</script>".into()),
            started_at: None,
            ended_at: Utc::now(),
            participant_count: 1,
            total_participant_minutes: 1.0,
            peak_concurrency: 1,
            minutes_consumed: None,
            participants: vec![ReportParticipant {
                name: Some("<b>Eve</b>".into()),
                custom_participant_id: None,
                joined_at: None,
                left_at: None,
                minutes: 1.0,
            }],
            summary: Some("<img src=x>".into()),
            links: Vec::new(),
            generated_at: Utc::now(),
        };
        let html = render_report_html(&report);
        assert!(!html.contains("<script>") && !html.contains("<b>Eve") && !html.contains("<img"));
        assert!(html.contains("&lt;b&gt;Eve&lt;/b&gt;"));
    }
}
