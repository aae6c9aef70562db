//! Sessions: the same filters and keyset pages as `GET /sessions`, newest ended first, each row saying whether
//! the session has a recording and whether its archive or its follow-ups failed.

use axum::extract::{RawQuery, State};
use axum::response::Html;
use maud::{Markup, html};

use super::pager::{self, Paged};
use super::paths;
use super::session::ConsoleSession;
use super::views::{self, PageError, Section, app_label, page, time};
use crate::domain::ended_session::{END_REASONS, end_reason_in_words};
use crate::domain::human;
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::sessions::{self as api_sessions, ListParams};
use crate::store::sessions::{self, SessionTroubles};

pub async fn list(
    State(state): State<AppState>,
    session: ConsoleSession,
    RawQuery(raw): RawQuery,
) -> Result<Html<String>, PageError> {
    let Paged { params, trail } = Paged::<ListParams>::from_query(raw.as_deref()).map_err(|rejection| {
        PageError::new(ApiError::invalid_query(&rejection, "the filters of the form"), &session)
    })?;
    let mut params = params;
    params.ended_after = views::date_from_form(params.ended_after.take());
    params.ended_before = views::date_from_form(params.ended_before.take());
    let kept = filters(&params);
    let cursor = params.cursor.clone();
    let result = api_sessions::list_page(&state.db, params).await;
    let ids: Vec<&str> = (result.iter())
        .flat_map(|page| page.data.iter().map(|s| s.ended.session_id.as_str()))
        .collect();
    let troubles = sessions::troubles(&state.db, &ids)
        .await
        .map_err(|e| PageError::new(e, &session))?;
    let troubles_of = |id: &str| troubles.iter().find(|t| t.session_id == id);
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
            label { "Reason"
                select name="reason" {
                    option value="" selected[value("reason").is_empty()] { "any" }
                    @for (reason, words) in END_REASONS {
                        option value=(reason) selected[value("reason") == reason] { (words) }
                    }
                    @if !value("reason").is_empty() && !END_REASONS.iter().any(|(r, _)| *r == value("reason")) {
                        option value=(value("reason")) selected { (value("reason")) }
                    }
                }
            }
            (views::date_filter("ended_after", "Ended after", value("ended_after")))
            (views::date_filter("ended_before", "Ended before", value("ended_before")))
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
                div.scroll tabindex="0" { table {
                    thead { tr { th { "Ended" } th { "App" } th { "Meeting" } th { "Session" } th { "Duration" } th { "Reason" } th { "Files and follow-ups" } } }
                    tbody {
                        @for s in &page.data {
                            tr {
                                td { (time(s.ended.ended_at)) }
                                td { (app_label(&state, s.app_id.as_deref())) }
                                td { (s.ended.meeting_title.as_deref().unwrap_or("")) br; code.small { (s.ended.meeting_id) } }
                                td { a href=(paths::session_href(&s.ended.session_id)) { code { (s.ended.session_id) } } }
                                td { (s.ended.duration_seconds.map_or("–".to_owned(), |d| human::duration(d as f64))) }
                                td { (s.ended.reason.as_deref().map_or("–", end_reason_in_words)) }
                                td { (troubles_badges(troubles_of(&s.ended.session_id))) }
                            }
                        }
                    }
                } }
                (pager::links("/console/sessions", &kept, cursor.as_deref(), &trail, page.next_cursor.as_deref()))
            }
        }
    };
    Ok(page("Sessions", Some(&session), Section::Sessions, body))
}

/// A list row's word on a session: a recording, an archive that failed, follow-ups that failed (each linked).
fn troubles_badges(troubles: Option<&SessionTroubles>) -> Markup {
    let Some(t) = troubles else {
        return html! {};
    };
    let session = paths::session_href(&t.session_id);
    html! {
        @if t.has_recording { span.badge.recorded { "recording" } " " }
        @if t.archive_failed { a href=(session) { span.badge.failed { "archive failed" } } " " }
        @if t.followups_failing > 0 {
            a href={ "/console/followups?status=dead&session_id=" (paths::query_value(&t.session_id)) } {
                span.badge.dead { (t.followups_failing) " follow-up" @if t.followups_failing != 1 { "s" } " failing" }
            }
        }
    }
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
