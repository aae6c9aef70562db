//! The overview: what an on-call engineer needs first. What needs attention (dead follow-ups, unprocessable
//! deliveries, artifacts about to be lost, a failed registration, no verification key), then the last 24 hours of
//! deliveries, the follow-up queue, the archive, the webhook registration and the verification key. Every number
//! links to the list behind it.

use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::Html;
use chrono::{DurationRound, SecondsFormat, Utc};
use maud::{Markup, html};
use serde::Deserialize;

use super::chart;
use super::paths;
use super::session::ConsoleSession;
use super::views::{self, PageError, Section, action_button, badge, page};
use crate::archive::Writability;
use crate::domain::artifact::{AT_RISK_HOURS, ArtifactState};
use crate::domain::human;
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::params;
use crate::realtimekit::registration::RegistrationState;
use crate::store::deliveries::{self, Outcome};
use crate::store::followup_jobs::JobStatus;
use crate::store::{artifacts, followup_jobs};

/// Artifacts whose source expires within this are "at risk".
const AT_RISK_WITHIN: Duration = Duration::from_secs(AT_RISK_HOURS as u64 * 3600);
/// Far enough back to mean "ever" for the last delivery (an index seek whatever the span).
const EVER: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
/// The most artifacts at risk the list shows.
const AT_RISK_ROWS: i64 = 200;

pub async fn show(State(state): State<AppState>, session: ConsoleSession) -> Result<Html<String>, PageError> {
    let now = Utc::now();
    // The chart's first hour starts 23 hours before the current one.
    let since = now.duration_trunc(chrono::Duration::hours(1)).unwrap_or(now) - chrono::Duration::hours(23);
    // Seven small queries at once, each on an index of its own.
    let (hourly, last_delivery, foreign_apps, queue, oldest_due, at_risk, artifact_states) = tokio::try_join!(
        deliveries::hourly_counts_since(&state.db, since),
        deliveries::last_received(&state.db, None, EVER),
        deliveries::foreign_apps_since(&state.db, since),
        followup_jobs::counts_by_state(&state.db),
        followup_jobs::oldest_due_age_secs(&state.db),
        artifacts::at_risk_count(&state.db, AT_RISK_WITHIN),
        artifacts::counts_by_state(&state.db),
    )
    .map_err(|e| PageError::new(e, &session))?;
    let outcomes: Vec<(Outcome, i64)> = (Outcome::ALL.iter())
        .map(|o| (*o, hourly.iter().filter(|(_, x, _)| x == o).map(|(_, _, n)| n).sum()))
        .collect();
    let registration = state.registration.get();
    let key = state.keys.status();

    let queue_count = |name: &str| queue.iter().find(|(s, _)| s == name).map_or(0, |(_, n)| *n);
    let outcome_count = |o: Outcome| outcomes.iter().find(|(x, _)| *x == o).map_or(0, |(_, n)| *n);
    let since_text = since.to_rfc3339_opts(SecondsFormat::Secs, true);
    let deliveries_link = |o: Outcome| {
        let filters = [
            ("outcome", o.as_str().to_owned()),
            ("received_after", since_text.clone()),
        ];
        paths::list_href("/console/deliveries", &filters)
    };

    let mut attention: Vec<Markup> = Vec::new();
    if queue_count("dead") > 0 {
        attention.push(html! { a href="/console/followups?status=dead" { (count_of(queue_count("dead"), "dead follow-up", "dead follow-ups")) } " waiting for a retry." });
    }
    if outcome_count(Outcome::Unprocessable) > 0 {
        attention.push(html! {
            a href=(deliveries_link(Outcome::Unprocessable)) {
                (count_of(outcome_count(Outcome::Unprocessable), "unprocessable delivery", "unprocessable deliveries"))
            }
            " in the last 24 hours."
        });
    }
    if at_risk > 0 {
        attention.push(html! { a href="/console/artifacts" { (count_of(at_risk, "artifact", "artifacts")) } " not archived and expiring within 48 hours." });
    }
    // An app someone forgot to configure: its deliveries are kept, but nothing is done for them.
    for (app_id, count) in &foreign_apps {
        let link = deliveries_link(Outcome::Foreign);
        attention.push(match app_id {
            Some(app_id) => html! {
                "Deliveries from an app that is not configured: " code { (app_id) } " ("
                a href=(link) { (count_of(*count, "delivery", "deliveries")) } " in the last 24 hours). If it is yours, \
                add it to " code { "realtimekit.apps" } " and replay them."
            },
            None => html! {
                "Deliveries that name no app, or several, were kept as foreign ("
                a href=(link) { (count_of(*count, "delivery", "deliveries")) } " in the last 24 hours)."
            },
        });
    }
    if let Some(mismatch) = state.registration.last_mismatch() {
        attention.push(html! {
            "A delivery came through the webhook registered for app " code { (mismatch.webhook_app) }
            " but names " @match &mismatch.delivery_app { Some(app) => { "app " code { (app) } }, None => { "no app" } }
            " (" (time_text(mismatch.at)) "): the signed app id was trusted; see the logs."
        });
    }
    if let RegistrationState::Failed { reason } = &registration {
        attention.push(html! { "The webhook registration failed: " (reason) });
    }
    if !key.loaded {
        attention.push(html! { "No verification key is loaded: deliveries are answered 503 until one is." });
    }
    match state.archive.as_ref().map(|a| (a, a.writability())) {
        Some((store, Writability::Unwritable { error, since })) => attention.push(html! {
            "The archive " code { (store.shown()) } " cannot be written since " (views::time(since)) ": " (error)
            ". Files wait (archive jobs retry), and RealtimeKit deletes them 7 days after the meeting."
        }),
        None => attention.push(html! {
            "No archive is configured (" code { "archive.url" } " is empty): recordings, transcripts, summaries and \
            chats are not copied, and RealtimeKit deletes them 7 days after the meeting."
        }),
        Some(_) => {}
    }
    // Silence: deliveries came before, and none for `alerts.silence_hours`. The receiver's checks are all green
    // when RealtimeKit stops sending (a webhook deleted or disabled, a proxy in the way).
    if let (Some(silence), Some(last)) = (state.silence, last_delivery)
        && now - last > chrono::Duration::from_std(silence).unwrap_or(chrono::TimeDelta::MAX)
        && now - last < chrono::Duration::days(7)
    {
        attention.push(html! {
            "No delivery for " (human::duration((now - last).num_seconds() as f64)) " (the last " (views::time(last))
            "). Is the webhook still registered and enabled? "
            code { "rtk-sessions webhooks list" } " shows it; " a href="/readyz" { "/readyz" } " says how the \
            registration went."
        });
    }

    let body = html! {
        section.attention {
            @if last_delivery.is_none() {
                h2 { "No delivery received yet" }
                p {
                    "RealtimeKit should POST its webhooks to "
                    @match &state.webhook_url {
                        Some(url) => { code { (url) } },
                        None => { "this service's " code { "/webhooks/realtimekit" } " (set " code { "server.public_url" } " to register it by itself)" },
                    }
                    ". To see one arrive, sign a test delivery: " code { "rtk-sessions dev keygen" } ", then "
                    code { "rtk-sessions dev send" } " (README: \"Try it\")."
                }
                @if !attention.is_empty() { ul { @for item in &attention { li { (item) } } } }
            } @else if attention.is_empty() {
                p.ok { "Nothing needs attention." }
            } @else {
                h2 { "Needs attention" }
                ul { @for item in &attention { li { (item) } } }
            }
        }
        @if let Some(last) = last_delivery {
            p.hint { "Last delivery received " (views::time(last)) "." }
        }
        section.card.wide {
            h2 { "Deliveries by hour, last 24 h" }
            (chart::deliveries_by_hour(&hourly, now))
        }
        div.cards {
            section.card {
                h2 { "Deliveries, last 24 h" }
                dl.numbers {
                    @for outcome in Outcome::ALL {
                        dt { (badge(outcome.as_str())) }
                        dd { a href=(deliveries_link(outcome)) { (outcome_count(outcome)) } }
                    }
                }
            }
            section.card {
                h2 { "Follow-up queue" }
                dl.numbers {
                    dt { "due" } dd { a href="/console/followups?status=due" { (queue_count("due")) } }
                    dt { "running" } dd { a href="/console/followups?status=running" { (queue_count("running")) } }
                    dt { "waiting to retry" } dd { a href="/console/followups?status=failing" { (queue_count("waiting")) } }
                    dt { "dead" } dd { a href="/console/followups?status=dead" { (queue_count("dead")) } }
                    dt { "oldest due" } dd { @if queue_count("due") > 0 { (human::duration(oldest_due)) } @else { "–" } }
                }
            }
            section.card {
                h2 { "Archive" }
                dl.numbers {
                    dt { "at risk (48 h)" } dd { a href="/console/artifacts" { (at_risk) } }
                    @for (artifact_state, count) in &artifact_states {
                        dt { (badge(artifact_state.as_str())) }
                        dd {
                            @if artifact_state.awaits_archive() { a href={ "/console/artifacts?state=" (artifact_state.as_str()) } { (count) } }
                            @else { (count) }
                        }
                    }
                }
                @match state.archive.as_ref().map(|a| (a.shown(), a.writability())) {
                    None => p.hint { "No archive store is configured (archive.url)." },
                    Some((shown, Writability::Unwritable { .. })) => p.hint { (badge("unwritable")) " " code { (shown) } },
                    Some((shown, _)) => p.hint { "Store: " code { (shown) } },
                }
            }
            section.card {
                h2 { "RealtimeKit" }
                dl.stacked {
                    dt { "Webhook registration" }
                    dd {
                        (badge(registration.name()))
                        @match &registration {
                            RegistrationState::Registered { webhook_id } => { " webhook " code { (webhook_id) } }
                            RegistrationState::Disabled { reason } | RegistrationState::Failed { reason } => { " " (reason) }
                            RegistrationState::Pending => {}
                        }
                    }
                    dt { "Verification key" }
                    dd {
                        @if key.loaded { (badge("loaded")) } @else { (badge("not_loaded")) }
                        " " (key.source)
                        @if let Some(error) = &key.last_error { " · last fetch failed: " (error) }
                    }
                }
            }
        }
    };
    Ok(page("Overview", Some(&session), Section::Overview, body))
}

/// `1 dead follow-up`, `4 dead follow-ups`.
fn count_of(count: i64, one: &str, many: &str) -> String {
    format!("{count} {}", if count == 1 { one } else { many })
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArtifactParams {
    state: Option<String>,
}

/// Artifacts not archived that expire within 48 hours (or have expired), soonest first; or, with `state`, every
/// one not archived in that state (announced, archiving or failed).
pub async fn artifacts_at_risk(
    State(state): State<AppState>,
    session: ConsoleSession,
    params: Result<Query<ArtifactParams>, QueryRejection>,
) -> Result<Html<String>, PageError> {
    let fail = |e: ApiError| PageError::new(e, &session);
    let Query(params) = params.map_err(|r| fail(ApiError::invalid_query(&r, "state")))?;
    let only = match params::state("invalid_state", "state", params.state, |text| {
        ArtifactState::try_from(text.to_owned())
    })
    .map_err(fail)?
    {
        Some(only) if !only.awaits_archive() => {
            return Err(fail(ApiError::bad_request(
                "invalid_state",
                "state: this page lists files not archived yet: announced, archiving or failed",
            )));
        }
        only => only,
    };
    let within = only.is_none().then_some(AT_RISK_WITHIN);
    let rows = artifacts::unarchived(&state.db, within, only, AT_RISK_ROWS)
        .await
        .map_err(|e| PageError::new(e, &session))?;
    let sessions: Vec<&str> = rows.iter().map(|a| a.session_id.as_str()).collect();
    let jobs = followup_jobs::archive_jobs_of(&state.db, &sessions)
        .await
        .map_err(|e| PageError::new(e, &session))?;
    let job_of = |session_id: &str| jobs.iter().rev().find(|j| j.session_id == session_id);
    let now = Utc::now();
    let body = html! {
        @match only {
            None => p.hint { "Not archived yet and deleted by RealtimeKit within 48 hours, soonest first (at most " (AT_RISK_ROWS) ")." },
            Some(only) => p.hint { "Not archived yet and " (badge(only.as_str())) ", soonest expiry first (at most " (AT_RISK_ROWS) "). " a href="/console/artifacts" { "Those at risk" } },
        }
        @if rows.is_empty() {
            p.ok { @if only.is_some() { "No artifact is in that state." } @else { "No artifact is at risk." } }
        } @else {
            div.scroll tabindex="0" { table {
                thead { tr { th { "Session" } th { "Artifact" } th { "State" } th { "Expires" } th { "Archive job" } th { "Last error" } } }
                tbody {
                    @for artifact in &rows {
                        tr {
                            td { a href=(paths::session_href(&artifact.session_id)) { code { (artifact.session_id) } } }
                            td {
                                (artifact.kind.as_str())
                                @if let Some(id) = &artifact.recording_id { " " code { (id) } }
                                @if let Some(file) = &artifact.file { " " code.small { (file) } }
                            }
                            td { (badge(artifact.state.as_str())) }
                            td {
                                @if artifact.expires_at.is_some_and(|at| at < now) { "expired " }
                                (views::maybe_time(artifact.expires_at))
                            }
                            td {
                                @match job_of(&artifact.session_id) {
                                    Some(job) if job.status == JobStatus::Dead => {
                                        (badge("dead")) " "
                                        (action_button(&session, &format!("/console/followups/{}/retry", job.id), "Retry"))
                                    }
                                    Some(job) => { (badge(job.status.as_str())) " attempt " (job.attempts) }
                                    None => { "–" }
                                }
                            }
                            td.error-text { (artifact.error.as_deref().unwrap_or("")) }
                        }
                    }
                }
            } }
        }
    };
    let title = match only {
        None => "Artifacts at risk".to_owned(),
        Some(only) => format!("Artifacts {}", only.as_str()),
    };
    Ok(page(&title, Some(&session), Section::Artifacts, body))
}

fn time_text(at: chrono::DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}
