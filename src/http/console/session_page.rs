//! One session's page: its record, the meeting's actions, what it left behind (and whether it can still be
//! saved), who attended, its follow-ups, every delivery received for it and its participant report; and the
//! downloads of its archived files.

use axum::extract::{Path, Query, State};
use axum::response::{Html, Response};
use chrono::Utc;
use maud::{Markup, html};

use super::jobs::{attempt_rows, job_row};
use super::paths;
use super::session::ConsoleSession;
use super::views::{self, PageError, Section, action_button, app_label, badge, maybe_time, page, time};
use crate::domain::human;
use crate::http::AppState;
use crate::http::artifacts;
use crate::http::deliveries::{self as api_deliveries};
use crate::http::sessions::{self as api_sessions, LiveSessionWithAttendance, SessionDetails};
use crate::store::artifacts::{Artifact, SessionArtifacts};
use crate::store::attendance::Attendee;
use crate::store::followup_jobs::{self, FollowupKind, Job, JobStatus};
use crate::store::livestreams::Livestream;
use crate::store::reports;

/// The most deliveries a session page lists (a session has one `meeting.ended`, its retries, and its artifacts'
/// events; more would be an anomaly, linked to in full).
const DELIVERY_ROWS: &str = "100";
/// The most follow-up attempts a session page lists (each job has at most `worker.max_attempts` per run).
const ATTEMPT_ROWS: i64 = 500;

#[derive(Debug, Default, serde::Deserialize)]
pub struct ShowParams {
    notice: Option<String>,
}

pub async fn show(
    State(state): State<AppState>,
    session: ConsoleSession,
    Path(session_id): Path<String>,
    Query(shown): Query<ShowParams>,
) -> Result<Html<String>, PageError> {
    let details = api_sessions::details(&state.db, &session_id).await;
    let record = match details.map_err(|e| PageError::new(e, &session))? {
        SessionDetails::Ended(record) => record,
        SessionDetails::Live(live) => return Ok(live_page(&state, &session, &live)),
    };
    let delivery_params = api_deliveries::ListParams {
        session_id: Some(session_id.clone()),
        limit: Some(DELIVERY_ROWS.to_owned()),
        ..Default::default()
    };
    let received = api_deliveries::list_page(&state.db, delivery_params)
        .await
        .map_err(|e| PageError::new(e, &session))?;
    let attempts = followup_jobs::attempts_for_session(&state.db, &session_id, ATTEMPT_ROWS)
        .await
        .map_err(|e| PageError::new(e, &session))?;
    let report = reports::get(&state.db, &session_id)
        .await
        .map_err(|e| PageError::new(e, &session))?;
    let s = &record.session.ended;
    let title = s
        .meeting_title
        .clone()
        .unwrap_or_else(|| format!("Session {}", s.session_id));
    let body = html! {
        (views::notice(shown.notice.as_deref()))
        p { "Session " code { (s.session_id) } }
        section {
            h2 { "Record" }
            dl.record {
                dt { "Meeting" } dd {
                    code { (s.meeting_id) } " · " a href={ "/console/sessions?meeting_id=" (paths::query_value(&s.meeting_id)) } { "its sessions" }
                    (meeting_actions(&state, &session, &s.meeting_id, record.session.app_id.as_deref()))
                }
                dt { "App" } dd { (app_label(&state, record.session.app_id.as_deref())) " " code.small { (s.organization_id.as_deref().unwrap_or("–")) } @if let Some(name) = &s.organization_name { " · " (name) } }
                @if let Some(room) = &s.room_name { dt { "Room" } dd { (room) } }
                dt { "Started" } dd { (maybe_time(s.started_at)) }
                dt { "Ended" } dd { (time(s.ended_at)) }
                dt { "Duration" } dd { (s.duration_seconds.map_or("–".to_owned(), |d| human::duration(d as f64))) }
                dt { "Reason" } dd { (s.reason.as_deref().unwrap_or("–")) }
                dt { "Recorded" } dd { (time(record.session.received_at)) " by " (record.session.source.as_str()) }
            }
        }
        (artifacts_section(&session, &s.session_id, &record.artifacts, &record.followups))
        (attendance_section(&record.participants))
        (livestreams_section(&record.livestreams))
        section {
            h2 { "Follow-ups" }
            @if record.followups.is_empty() {
                p.hint { "No follow-up is configured for this session." }
            } @else {
                div.scroll tabindex="0" { table {
                    thead { tr { th { "Follow-up" } th { "Status" } th { "Attempts" } th { "Next run / finished" } th { "Last error" } th { span.visually-hidden { "Action" } } } }
                    tbody {
                        @for job in &record.followups {
                            (job_row(&session, job, None))
                            (attempt_rows(job, &attempts))
                        }
                    }
                } }
            }
        }
        section {
            h2 { "Deliveries received for it" }
            @if received.data.is_empty() {
                p.hint { "None: the session was found by reconciliation." }
            } @else {
                div.scroll tabindex="0" { table {
                    thead { tr { th { "Received" } th { "Event" } th { "Outcome" } th { "Delivery" } } }
                    tbody {
                        @for d in &received.data {
                            tr {
                                td { (time(d.received_at)) }
                                td { (d.event.as_deref().unwrap_or("–")) }
                                td { (badge(d.outcome.as_str())) @if let Some(reason) = &d.reason { " " span.error-text { (reason) } } }
                                td { a href=(paths::delivery_href(&d.delivery_id)) { code.small { (d.delivery_id) } } }
                            }
                        }
                    }
                } }
            }
        }
        section {
            h2 { "Participant report" }
            @match &report {
                None => p.hint { "No report yet: a " code { "report" } " follow-up makes it." },
                Some(report) => {
                    dl.numbers {
                        dt { "participants" } dd { (report.participant_count) }
                        dt { "peak at once" } dd { (report.peak_concurrency) }
                        dt { "participant minutes" } dd { (format!("{:.1}", report.total_participant_minutes)) }
                        @if let Some(minutes) = report.minutes_consumed { dt { "minutes consumed" } dd { (format!("{minutes:.1}")) } }
                    }
                    div.scroll tabindex="0" { table {
                        thead { tr { th { "Name" } th { "Participant id" } th { "Joined" } th { "Left" } th { "Minutes" } } }
                        tbody {
                            @for p in &report.participants {
                                tr {
                                    td { (p.name.as_deref().unwrap_or("(unnamed)")) }
                                    td { code.small { (p.custom_participant_id.as_deref().unwrap_or("")) } }
                                    td { (maybe_time(p.joined_at)) }
                                    td { (maybe_time(p.left_at)) }
                                    td.n { (format!("{:.1}", p.minutes)) }
                                }
                            }
                        }
                    } }
                    @if let Some(summary) = &report.summary {
                        h3 { "Summary" }
                        pre.body { (summary) }
                    }
                }
            }
        }
    };
    Ok(page(&title, Some(&session), Section::Sessions, body))
}

/// What an `operate` session may do to the meeting: end its active session, or why it cannot (the app has no
/// API credentials), said before the form is opened.
fn meeting_actions(state: &AppState, session: &ConsoleSession, meeting_id: &str, app_id: Option<&str>) -> Markup {
    if !session.can_operate() {
        return html! {};
    }
    let end = format!(
        "/console/meetings/end?meeting_id={}&app_id={}",
        paths::query_value(meeting_id),
        paths::query_value(app_id.unwrap_or(""))
    );
    html! {
        " · "
        @match state.realtimekit.for_app(app_id) {
            Ok(_) => a.button.secondary href=(end) { "End its active session…" },
            Err(why) => small.hint { "Ending its session is not possible here: " (why.to_string()) "." },
        }
    }
}

/// A session that started and has not ended: who is in it now, who came and went, what it announced.
fn live_page(state: &AppState, session: &ConsoleSession, live: &LiveSessionWithAttendance) -> Html<String> {
    let s = &live.session;
    let title = s
        .meeting_title
        .clone()
        .unwrap_or_else(|| format!("Session {}", s.session_id));
    let body = html! {
        p { "Session " code { (s.session_id) } " " (badge("live")) }
        section {
            h2 { "Record" }
            dl.record {
                dt { "Meeting" } dd { code { (s.meeting_id) } " · " a href={ "/console/sessions?meeting_id=" (paths::query_value(&s.meeting_id)) } { "its sessions" } }
                dt { "App" } dd { (app_label(state, s.app_id.as_deref())) " " code.small { (s.organization_id.as_deref().unwrap_or("–")) } @if let Some(name) = &s.organization_name { " · " (name) } }
                @if let Some(room) = &s.room_name { dt { "Room" } dd { (room) } }
                dt { "Started" } dd { (time(s.started_at)) }
                dt { "In it now" } dd { (s.participants_now) }
                @if let Some(stale) = s.stale_since {
                    dt { "Stale since" } dd { (time(stale)) " " span.error-text { "live past reconcile.stale_live_hours, and RealtimeKit does not say it ended" } }
                }
            }
        }
        (attendance_section(&live.participants))
        (livestreams_section(&live.livestreams))
        (artifacts_section(session, &s.session_id, &live.artifacts, &[]))
    };
    page(&title, Some(session), Section::Sessions, body)
}

fn artifacts_section(session: &ConsoleSession, session_id: &str, artifacts: &SessionArtifacts, jobs: &[Job]) -> Markup {
    let all: Vec<&Artifact> = artifacts.all().collect();
    let archive_job = jobs.iter().rev().find(|job| job.kind == FollowupKind::Archive);
    html! {
        section {
            h2 { "Recordings, transcript, summary, chat" }
            @if all.is_empty() {
                p.hint { "Nothing was announced for this session." }
            } @else {
                div.scroll tabindex="0" { table {
                    thead { tr { th { "Artifact" } th { "State" } th { "Size" } th { "Expires at RealtimeKit" } th { "Archived" } th { span.visually-hidden { "Action" } } } }
                    tbody { @for artifact in &all { (artifact_row(session, session_id, artifact, archive_job)) } }
                } }
            }
        }
    }
}

/// Who attended, from the participant events (nothing when none came).
fn attendance_section(attendance: &[Attendee]) -> Markup {
    html! {
        @if !attendance.is_empty() {
            section {
                h2 { "Attendance (" (attendance.len()) " peers)" }
                div.scroll tabindex="0" { table {
                    thead { tr { th { "Name" } th { "Participant id" } th { "Peer" } th { "Joined" } th { "Left" } } }
                    tbody {
                        @for peer in attendance {
                            tr {
                                td { (peer.display_name.as_deref().unwrap_or("(unnamed)")) }
                                td { code.small { (peer.custom_participant_id.as_deref().unwrap_or("")) } }
                                td { code.small { (peer.peer_id) } }
                                td { (maybe_time(peer.joined_at)) }
                                td { @if peer.left_at.is_none() { span.badge { "in it now" } } @else { (maybe_time(peer.left_at)) } }
                            }
                        }
                    }
                } }
            }
        }
    }
}

/// The session's livestreams, when it had any (their stream keys are never stored).
fn livestreams_section(livestreams: &[Livestream]) -> Markup {
    html! {
        @if !livestreams.is_empty() {
            section {
                h2 { "Livestreams" }
                div.scroll tabindex="0" { table {
                    thead { tr { th { "Stream" } th { "Status" } th { "Transitions" } th { "Playback URL" } } }
                    tbody {
                        @for stream in livestreams {
                            tr {
                                td { code.small { (stream.stream_id) } }
                                td { (stream.status) }
                                td { @for t in &stream.transitions { (t.status) " " (time(t.at)) br; } }
                                td { code.small { (stream.playback_url.as_deref().unwrap_or("–")) } }
                            }
                        }
                    }
                } }
            }
        }
    }
}

/// One file: its state and, while it is not archived, how long RealtimeKit keeps it and whether its archive job
/// gave up (with a Retry).
fn artifact_row(session: &ConsoleSession, session_id: &str, artifact: &Artifact, archive_job: Option<&Job>) -> Markup {
    let unsaved = artifact.state.awaits_archive();
    let dead_job = archive_job.filter(|job| unsaved && job.status == JobStatus::Dead);
    let now = Utc::now();
    let deleted_in = (artifact.expires_at)
        .filter(|at| unsaved && *at > now)
        .map(|at| human::duration((at - now).num_seconds() as f64));
    let download = format!(
        "{}/artifacts/{}",
        paths::session_href(session_id),
        artifact.download_path()
    );
    html! {
        tr {
            td {
                (artifact.kind.as_str())
                @if let Some(id) = &artifact.recording_id { " " code.small { (id) } }
                @if let Some(file) = &artifact.file { br; code.small { (file) } }
            }
            td {
                (badge(artifact.state.as_str()))
                @if let Some(status) = &artifact.status { " " (status) }
                @if let Some(error) = &artifact.error { br; span.error-text { (error) } }
                @if let Some(job) = dead_job {
                    br; "Its archive job is " (badge("dead")) " "
                    (action_button(session, &format!("/console/followups/{}/retry", job.id), "Retry"))
                }
                @if let Some(left) = &deleted_in { br; small { "RealtimeKit deletes it in " (left) } }
            }
            td { (artifact.size_bytes.map_or("–".to_owned(), human::size)) }
            td { (maybe_time(artifact.expires_at)) }
            td { (maybe_time(artifact.archived_at)) }
            td { @if artifact.archived_at.is_some() { a href=(download) download { "Download" } } }
        }
    }
}

/// An archived transcript, summary or chat, as `GET /sessions/{id}/artifacts/{kind}` serves it.
pub async fn download(
    state: State<AppState>,
    _session: ConsoleSession,
    path: Path<(String, String)>,
) -> Result<Response, PageError> {
    Ok(artifacts::download(state, path).await?)
}

/// An archived recording, as `GET /sessions/{id}/artifacts/recordings/{recording_id}` serves it.
pub async fn download_recording(
    state: State<AppState>,
    _session: ConsoleSession,
    path: Path<(String, String)>,
) -> Result<Response, PageError> {
    Ok(artifacts::download_recording(state, path).await?)
}

/// One archived file of a recording, as `GET /sessions/{id}/artifacts/recordings/{recording_id}/files/{name}`
/// serves it.
pub async fn download_recording_file(
    state: State<AppState>,
    _session: ConsoleSession,
    path: Path<(String, String, String)>,
) -> Result<Response, PageError> {
    Ok(artifacts::download_recording_file(state, path).await?)
}
