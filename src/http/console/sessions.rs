//! Sessions: the same filters and keyset pages as `GET /sessions`, newest ended first; and one session's page with
//! its record, what it left behind, its follow-ups, every delivery received for it and its participant report.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::{Html, Response};
use maud::{Markup, html};

use super::paths;
use super::session::ConsoleSession;
use super::views::{self, PageError, Section, action_button, badge, maybe_time, page, time};
use crate::domain::human;
use crate::http::AppState;
use crate::http::artifacts;
use crate::http::deliveries::{self as api_deliveries};
use crate::http::error::ApiError;
use crate::http::sessions::{self as api_sessions, ListParams, LiveSessionWithAttendance, SessionDetails};
use crate::store::artifacts::{Artifact, SessionArtifacts};
use crate::store::attendance::Attendee;
use crate::store::followup_jobs::{self, Attempt, Job, JobStatus};
use crate::store::livestreams::Livestream;
use crate::store::reports;

/// The most deliveries a session page lists (a session has one `meeting.ended`, its retries, and its artifacts'
/// events; more would be an anomaly, linked to in full).
const DELIVERY_ROWS: &str = "100";
/// The most follow-up attempts a session page lists (each job has at most `worker.max_attempts` per run).
const ATTEMPT_ROWS: i64 = 500;

pub async fn list(
    State(state): State<AppState>,
    session: ConsoleSession,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Html<String>, PageError> {
    let params = params.map(|Query(p)| p).map_err(|rejection| {
        PageError::new(ApiError::invalid_query(&rejection, "the filters of the form"), &session)
    })?;
    let kept = filters(&params);
    let result = api_sessions::list_page(&state.db, params).await;
    let value = |name: &str| kept.iter().find(|(n, _)| *n == name).map_or("", |(_, v)| v.as_str());
    let flag = |name: &'static str, label: &str| {
        html! {
            label { (label)
                select name=(name) {
                    option value="" selected[value(name).is_empty()] { "any" }
                    option value="true" selected[value(name) == "true"] { "yes" }
                    option value="false" selected[value(name) == "false"] { "no" }
                }
            }
        }
    };
    let apps = state.realtimekit.apps();
    let body = html! {
        form.filters method="get" action="/console/sessions" {
            label { "Title" input type="search" name="title" value=(value("title")) placeholder="words of the meeting's title" autofocus; }
            label { "Meeting id" input type="search" name="meeting_id" value=(value("meeting_id")); }
            @if apps.is_empty() {
                label { "App id" input type="search" name="app_id" value=(value("app_id")); }
            } @else {
                label { "App"
                    select name="app_id" {
                        option value="" selected[value("app_id").is_empty()] { "any" }
                        @for app in apps.iter() {
                            option value=(app.app_id) selected[value("app_id") == app.app_id] { (app.label()) }
                        }
                    }
                }
            }
            label { "Reason" input type="search" name="reason" value=(value("reason")) placeholder="HOST_ENDED_MEETING"; }
            label { "Ended after" input type="text" name="ended_after" value=(value("ended_after")) placeholder="2026-11-26T00:00:00Z"; }
            label { "Ended before" input type="text" name="ended_before" value=(value("ended_before")) placeholder="RFC 3339"; }
            (flag("has_recording", "Recording"))
            (flag("has_transcript", "Transcript"))
            (flag("has_summary", "Summary"))
            (flag("has_chat", "Chat"))
            button type="submit" { "Find" }
            a href="/console/sessions" { "Clear" }
        }
        @match &result {
            Err(error) => p.error role="alert" { (error.to_string()) },
            Ok(page) if page.data.is_empty() => p { "No session matches." },
            Ok(page) => {
                div.scroll { table {
                    thead { tr { th { "Ended" } th { "App" } th { "Meeting" } th { "Session" } th { "Duration" } th { "Reason" } } }
                    tbody {
                        @for s in &page.data {
                            tr {
                                td { (time(s.ended.ended_at)) }
                                td { (app_label(&state, s.app_id.as_deref())) }
                                td { (s.ended.meeting_title.as_deref().unwrap_or("")) br; code.small { (s.ended.meeting_id) } }
                                td { a href=(paths::session_href(&s.ended.session_id)) { code { (s.ended.session_id) } } }
                                td { (s.ended.duration_seconds.map_or("–".to_owned(), |d| human::duration(d as f64))) }
                                td { (s.ended.reason.as_deref().unwrap_or("–")) }
                            }
                        }
                    }
                } }
                (views::next_page("/console/sessions", &kept, page.next_cursor.as_deref()))
            }
        }
    };
    Ok(page("Sessions", Some(&session), Section::Sessions, body))
}

/// The filters as sent, to keep them in the form and in the next page's link.
fn filters(params: &ListParams) -> Vec<(&'static str, String)> {
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    vec![
        ("title", text(&params.title)),
        ("meeting_id", text(&params.meeting_id)),
        ("organization_id", text(&params.organization_id)),
        ("app_id", text(&params.app_id)),
        ("reason", text(&params.reason)),
        ("ended_after", text(&params.ended_after)),
        ("ended_before", text(&params.ended_before)),
        ("has_recording", text(&params.has_recording)),
        ("has_transcript", text(&params.has_transcript)),
        ("has_summary", text(&params.has_summary)),
        ("has_chat", text(&params.has_chat)),
        ("limit", text(&params.limit)),
    ]
}

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
        @if session.can_operate() {
            p { a.button href={ "/console/meetings/end?meeting_id=" (paths::query_value(&s.meeting_id)) "&app_id=" (paths::query_value(record.session.app_id.as_deref().unwrap_or(""))) } { "End this meeting's active session…" } }
        }
        section {
            h2 { "Record" }
            dl.record {
                dt { "Meeting" } dd { code { (s.meeting_id) } " · " a href={ "/console/sessions?meeting_id=" (paths::query_value(&s.meeting_id)) } { "its sessions" } }
                dt { "App" } dd { (app_label(&state, record.session.app_id.as_deref())) " " code.small { (s.organization_id.as_deref().unwrap_or("–")) } @if let Some(name) = &s.organization_name { " · " (name) } }
                @if let Some(room) = &s.room_name { dt { "Room" } dd { (room) } }
                dt { "Started" } dd { (maybe_time(s.started_at)) }
                dt { "Ended" } dd { (time(s.ended_at)) }
                dt { "Duration" } dd { (s.duration_seconds.map_or("–".to_owned(), |d| human::duration(d as f64))) }
                dt { "Reason" } dd { (s.reason.as_deref().unwrap_or("–")) }
                dt { "Recorded" } dd { (time(record.session.received_at)) " by " (record.session.source.as_str()) }
            }
        }
        (artifacts_section(&s.session_id, &record.artifacts))
        (attendance_section(&record.participants))
        (livestreams_section(&record.livestreams))
        section {
            h2 { "Follow-ups" }
            @if record.followups.is_empty() {
                p.hint { "No follow-up is configured for this session." }
            } @else {
                div.scroll { table {
                    thead { tr { th { "Follow-up" } th { "Status" } th { "Attempts" } th { "Next run / finished" } th { "Last error" } th { "" } } }
                    tbody {
                        @for job in &record.followups {
                            (job_row(&session, job, false))
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
                div.scroll { table {
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
                None => p.hint { "No report yet: a `report` follow-up makes it." },
                Some(report) => {
                    dl.numbers {
                        dt { "participants" } dd { (report.participant_count) }
                        dt { "peak at once" } dd { (report.peak_concurrency) }
                        dt { "participant minutes" } dd { (format!("{:.1}", report.total_participant_minutes)) }
                        @if let Some(minutes) = report.minutes_consumed { dt { "minutes consumed" } dd { (format!("{minutes:.1}")) } }
                    }
                    div.scroll { table {
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
        (artifacts_section(&s.session_id, &live.artifacts))
    };
    page(&title, Some(session), Section::Sessions, body)
}

fn artifacts_section(session_id: &str, artifacts: &SessionArtifacts) -> Markup {
    let all: Vec<&Artifact> = artifacts.all().collect();
    html! {
        section {
            h2 { "Recordings, transcript, summary, chat" }
            @if all.is_empty() {
                p.hint { "Nothing was announced for this session." }
            } @else {
                div.scroll { table {
                    thead { tr { th { "Artifact" } th { "State" } th { "Size" } th { "Expires at RealtimeKit" } th { "Archived" } th { "" } } }
                    tbody { @for artifact in &all { (artifact_row(session_id, artifact)) } }
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
                div.scroll { table {
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
                div.scroll { table {
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

fn artifact_row(session_id: &str, artifact: &Artifact) -> Markup {
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
            }
            td { (artifact.size_bytes.map_or("–".to_owned(), human::size)) }
            td { (maybe_time(artifact.expires_at)) }
            td { (maybe_time(artifact.archived_at)) }
            td { @if artifact.archived_at.is_some() { a href=(download) download { "Download" } } }
        }
    }
}

/// The attempts of a job, folded under it (open them without JavaScript).
fn attempt_rows(job: &Job, attempts: &[Attempt]) -> Markup {
    let mine: Vec<&Attempt> = attempts.iter().filter(|a| a.job_id == job.id).collect();
    html! {
        @if !mine.is_empty() {
            tr.attempts {
                td colspan="6" {
                    details {
                        summary { "Attempts (" (mine.len()) ")" }
                        ol {
                            @for a in &mine {
                                li {
                                    "#" (a.attempt) " " (time(a.finished_at)) " " (badge(a.outcome.as_str()))
                                    @if let Some(error) = &a.error { " " span.error-text { (error) } }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A follow-up job: its attempts, its last error and, for `operate`, Retry when it is dead or waiting.
pub fn job_row(session: &ConsoleSession, job: &Job, with_session: bool) -> Markup {
    let retryable = matches!(job.status, JobStatus::Dead | JobStatus::Queued);
    html! {
        tr {
            @if with_session {
                td { a href=(paths::session_href(&job.session_id)) { code.small { (job.session_id) } } }
            }
            td {
                (job.followup) @if job.followup != job.kind.as_str() { " (" (job.kind.as_str()) ")" }
                br; small { (job.trigger.as_str()) @if !job.subject.is_empty() { " · " code { (job.subject) } } }
            }
            td { (badge(job.status.as_str())) }
            td.n { (job.attempts) " / " (job.max_attempts) }
            td { @if job.status == JobStatus::Queued { (time(job.run_at)) } @else { (maybe_time(job.finished_at)) } }
            td.error-text { (job.last_error.as_deref().unwrap_or("")) }
            td { @if retryable { (action_button(session, &format!("/console/followups/{}/retry", job.id), "Retry")) } }
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

/// An app as the console names it: its configured name, or its id (a dash for a session that names none).
fn app_label(state: &AppState, app_id: Option<&str>) -> String {
    match app_id {
        Some(app_id) => state
            .realtimekit
            .apps()
            .get(app_id)
            .map_or(app_id, |app| app.label())
            .to_owned(),
        None => "–".to_owned(),
    }
}
