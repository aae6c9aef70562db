//! The console's page frame and the small pieces every page shows the same way: times (UTC in the page, the
//! browser's time zone once `console.js` runs, UTC on hover), durations and sizes in human units, outcome and
//! state badges, and the hidden CSRF field.

use axum::response::{Html, IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use maud::{DOCTYPE, Markup, html};

use super::super::error::ApiError;
use super::assets;
use super::paths::{ROOT, SIGN_OUT, SIGN_OUT_EVERYWHERE};
use super::session::ConsoleSession;
use crate::domain::human;
use crate::http::AppState;

/// Which part of the console a page belongs to, for the navigation bar.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Overview,
    Sessions,
    Followups,
    Deliveries,
    Artifacts,
    Meetings,
    SignIn,
}

/// The frame of every page: the head, the navigation (the actions only for `operate`), who is signed in, and
/// sign-out.
pub fn page(title: &str, session: Option<&ConsoleSession>, section: Section, body: Markup) -> Html<String> {
    let link = |target: Section, href: &str, label: &str| {
        html! { a href=(href) aria-current=[(section == target).then_some("page")] { (label) } }
    };
    Html(
        html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    meta name="referrer" content="same-origin";
                    title { (title) " · rtk-sessions" }
                    link rel="stylesheet" href=(assets::STYLESHEET.href());
                    link rel="icon" type="image/svg+xml" href=(assets::FAVICON.href());
                    script src=(assets::SCRIPT.href()) defer {}
                }
                body {
                    header {
                        a.brand href=(ROOT) { "rtk-sessions" }
                        @if let Some(session) = session {
                            nav {
                                (link(Section::Overview, ROOT, "Overview"))
                                (link(Section::Sessions, &format!("{ROOT}/sessions"), "Sessions"))
                                (link(Section::Followups, &format!("{ROOT}/followups"), "Follow-ups"))
                                (link(Section::Deliveries, &format!("{ROOT}/deliveries"), "Deliveries"))
                                (link(Section::Artifacts, &format!("{ROOT}/artifacts"), "Artifacts"))
                                @if session.can_operate() {
                                    (link(Section::Meetings, &format!("{ROOT}/meetings/end"), "End a session"))
                                }
                            }
                            form.who method="post" action=(SIGN_OUT) {
                                span { (session.caller.token_name) " · " (session.caller.scope) }
                                (csrf_field(session))
                                button type="submit" { "Sign out" }
                                button type="submit" formaction=(SIGN_OUT_EVERYWHERE)
                                    title="End every console session of this token, on every browser" { "Sign out everywhere" }
                            }
                        }
                    }
                    main { h1 { (title) } (body) }
                }
            }
        }
        .into_string(),
    )
}

/// An error as a page, with the API's own words (never a secret: `ApiError` messages hold none).
pub fn error_page(error: ApiError, session: Option<&ConsoleSession>) -> Response {
    let message = error.to_string();
    // The API's response logs a 5xx with its cause and carries `Retry-After`; the page keeps both.
    let api_response = error.into_response();
    let status = api_response.status();
    let retry_after = api_response.headers().get(axum::http::header::RETRY_AFTER).cloned();
    let title = status.canonical_reason().unwrap_or("Error");
    let body = html! {
        p.error role="alert" { (message) }
        p { a href=(ROOT) { "Back to the overview" } }
    };
    let mut response = (status, page(title, session, Section::Overview, body)).into_response();
    if let Some(retry_after) = retry_after {
        response
            .headers_mut()
            .insert(axum::http::header::RETRY_AFTER, retry_after);
    }
    response
}

/// A console handler's failure, shown as a page.
pub struct PageError {
    error: ApiError,
    session: Option<ConsoleSession>,
}

impl PageError {
    pub fn new(error: impl Into<ApiError>, session: &ConsoleSession) -> Self {
        Self {
            error: error.into(),
            session: Some(session.clone()),
        }
    }
}

impl From<ApiError> for PageError {
    fn from(error: ApiError) -> Self {
        Self { error, session: None }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        error_page(self.error, self.session.as_ref())
    }
}

pub fn csrf_field(session: &ConsoleSession) -> Markup {
    html! { input type="hidden" name="csrf" value=(session.csrf); }
}

/// A one-button form that acts (retry, replay), for `operate` sessions only.
pub fn action_button(session: &ConsoleSession, action: &str, label: &str) -> Markup {
    html! {
        @if session.can_operate() {
            form.inline method="post" action=(action) {
                (csrf_field(session))
                button type="submit" { (label) }
            }
        }
    }
}

/// What an action tells the page it redirects to. The link carries a code from this fixed list (with a number or an
/// outcome where it needs one), never text: a link from anywhere cannot put words in the console's status line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    JobRetried,
    JobsRetried(u32),
    Replayed(crate::store::deliveries::Outcome),
}

impl Notice {
    /// The `?notice=` value.
    pub fn code(self) -> String {
        match self {
            Self::JobRetried => "job_retried".to_owned(),
            Self::JobsRetried(count) => format!("jobs_retried.{count}"),
            Self::Replayed(outcome) => format!("replayed.{}", outcome.as_str()),
        }
    }

    fn parse(code: &str) -> Option<Self> {
        let (name, argument) = code.split_once('.').unwrap_or((code, ""));
        match (name, argument) {
            ("job_retried", "") => Some(Self::JobRetried),
            ("jobs_retried", count) => count.parse().ok().map(Self::JobsRetried),
            ("replayed", outcome) => crate::store::deliveries::Outcome::parse(outcome)
                .ok()
                .map(Self::Replayed),
            _ => None,
        }
    }

    fn text(self) -> String {
        match self {
            Self::JobRetried => "The follow-up is queued again.".to_owned(),
            Self::JobsRetried(1) => "1 follow-up is queued again.".to_owned(),
            Self::JobsRetried(count) => format!("{count} follow-ups are queued again."),
            Self::Replayed(outcome) => format!("Replayed: it is now {}.", outcome.as_str()),
        }
    }
}

/// The notice a `?notice=` code names; an unknown code shows nothing.
pub fn notice(code: Option<&str>) -> Markup {
    html! {
        @if let Some(notice) = code.and_then(Notice::parse) {
            p.notice role="status" { (notice.text()) }
        }
    }
}

fn utc(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// A time to the second and how long ago it was: UTC in the page and on hover; `console.js` shows it in the
/// browser's time zone.
pub fn time(at: DateTime<Utc>) -> Markup {
    html! {
        time datetime=(at.to_rfc3339_opts(SecondsFormat::Secs, true)) title=(utc(at)) { (utc(at)) }
        " " small.ago { "(" (human::ago(at, Utc::now())) ")" }
    }
}

pub fn maybe_time(at: Option<DateTime<Utc>>) -> Markup {
    match at {
        Some(at) => time(at),
        None => html! { "–" },
    }
}

/// A coloured word for a state or an outcome; the class is the word itself (one of the service's enum names).
pub fn badge(word: &str) -> Markup {
    html! { span class={ "badge " (word) } { (word) } }
}

/// An app as the console names it: its configured name, or its id (a dash for a session that names none).
pub fn app_label(state: &AppState, app_id: Option<&str>) -> String {
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

/// A date filter: typed in the browser's time zone when `console.js` runs (it sends RFC 3339), in UTC without it.
/// `value` is the filter as the URL holds it.
pub fn date_filter(name: &str, label: &str, value: &str) -> Markup {
    let shown = DateTime::parse_from_rfc3339(value)
        .map(|at| at.with_timezone(&Utc).format("%Y-%m-%dT%H:%M:%S").to_string())
        .unwrap_or_else(|_| value.to_owned());
    html! {
        label { (label) " " span.zone { "(UTC)" }
            input type="datetime-local" step="1" name=(name) value=(shown) data-utc=(value);
        }
    }
}

/// A date filter as a form sends it: RFC 3339 as it is; a time without a zone (the form's own, without the
/// script) is UTC, as the page says.
pub fn date_from_form(value: Option<String>) -> Option<String> {
    let value = value?;
    let trimmed = value.trim();
    for format in ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M"] {
        if let Ok(naive) = chrono::NaiveDateTime::parse_from_str(trimmed, format) {
            return Some(naive.and_utc().to_rfc3339_opts(SecondsFormat::Secs, true));
        }
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_date_filter_without_a_zone_is_utc() {
        assert_eq!(
            date_from_form(Some("2026-12-05T09:30".into())).as_deref(),
            Some("2026-12-05T09:30:00Z")
        );
        assert_eq!(
            date_from_form(Some("2026-12-05T09:30:15+01:00".into())).as_deref(),
            Some("2026-12-05T09:30:15+01:00")
        );
        let field = date_filter("ended_after", "Ended after", "2026-12-05T09:30:15+01:00").into_string();
        assert!(field.contains(r#"value="2026-12-05T08:30:15""#), "{field}");
    }
}
