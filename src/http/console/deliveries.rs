//! Deliveries: unprocessable ones first (with their reason), any outcome on demand; one delivery with its exact
//! body; Replay (classify it again, after a fix) for `operate`.

use axum::extract::{Form, Path, Query, RawQuery, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;

use super::pager::{self, Paged};
use super::paths;
use super::session::ConsoleSession;
use super::views::{self, PageError, Section, action_button, badge, notice, page, time};
use crate::domain::human;
use crate::http::AppState;
use crate::http::deliveries::{self as api_deliveries, DeliveryDetail, ListParams};
use crate::http::error::ApiError;
use crate::store::deliveries::Outcome;

/// The most of a body the page shows; a longer one is cut, with its full size said (`GET /deliveries/{id}?raw=true`
/// gives it whole).
const BODY_SHOWN_BYTES: usize = 256 * 1024;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageParams {
    outcome: Option<String>,
    session_id: Option<String>,
    received_after: Option<String>,
    received_before: Option<String>,
    cursor: Option<String>,
}

pub async fn list(
    State(state): State<AppState>,
    session: ConsoleSession,
    RawQuery(raw): RawQuery,
) -> Result<Html<String>, PageError> {
    let Paged { mut params, trail } = Paged::<PageParams>::from_query(raw.as_deref()).map_err(|r| {
        PageError::new(
            ApiError::invalid_query(&r, "outcome, session_id, received_after, received_before, cursor"),
            &session,
        )
    })?;
    params.received_after = views::date_from_form(params.received_after.take());
    params.received_before = views::date_from_form(params.received_before.take());
    // Unprocessable by default: the ones that need a person. `any` lists every outcome.
    let outcome = match params.outcome.as_deref().map(str::trim) {
        None | Some("") => Outcome::Unprocessable.as_str().to_owned(),
        Some(text) => text.to_owned(),
    };
    let kept = vec![
        ("outcome", outcome.clone()),
        ("session_id", params.session_id.clone().unwrap_or_default()),
        ("received_after", params.received_after.clone().unwrap_or_default()),
        ("received_before", params.received_before.clone().unwrap_or_default()),
    ];
    let query = ListParams {
        outcome: (outcome != "any").then(|| outcome.clone()),
        session_id: params.session_id,
        received_after: params.received_after,
        received_before: params.received_before,
        limit: None,
        cursor: params.cursor.clone(),
    };
    let result = api_deliveries::list_page(&state.db, query).await;
    let value = |name: &str| kept.iter().find(|(n, _)| *n == name).map_or("", |(_, v)| v.as_str());
    let body = html! {
        form.filters method="get" action="/console/deliveries" {
            label { "Outcome"
                select name="outcome" {
                    @for o in Outcome::ALL { option value=(o.as_str()) selected[outcome == o.as_str()] { (o.as_str()) } }
                    option value="any" selected[outcome == "any"] { "any" }
                }
            }
            label { "Session id" input type="search" name="session_id" value=(value("session_id")); }
            (views::date_filter("received_after", "Received after", value("received_after")))
            (views::date_filter("received_before", "Received before", value("received_before")))
            button type="submit" { "Show" }
        }
        @match &result {
            Err(error) => p.error role="alert" { (error.to_string()) },
            Ok(page) if page.data.is_empty() => p.ok { "No delivery matches." },
            Ok(page) => {
                div.scroll tabindex="0" { table {
                    thead { tr { th { "Received" } th { "Event" } th { "Outcome" } th { "App" } th { "Reason" } th { "Session" } th { "Size" } } }
                    tbody {
                        @for d in &page.data {
                            tr {
                                td { a href=(paths::delivery_href(&d.delivery_id)) { (time(d.received_at)) } }
                                td { (d.event.as_deref().unwrap_or("–")) }
                                td { (badge(d.outcome.as_str())) }
                                td { code.small { (d.app_id.as_deref().unwrap_or("–")) } }
                                td.error-text { (d.reason.as_deref().unwrap_or("")) }
                                td { @if let Some(id) = &d.session_id { a href=(paths::session_href(id)) { code.small { (id) } } } }
                                td.n { (human::size(d.body_size_bytes)) }
                            }
                        }
                    }
                } }
                (pager::links("/console/deliveries", &kept, params.cursor.as_deref(), &trail, page.next_cursor.as_deref()))
            }
        }
    };
    Ok(page("Deliveries", Some(&session), Section::Deliveries, body))
}

#[derive(Debug, Default, Deserialize)]
pub struct ShowParams {
    notice: Option<String>,
}

pub async fn show(
    State(state): State<AppState>,
    session: ConsoleSession,
    Path(delivery_id): Path<String>,
    Query(params): Query<ShowParams>,
) -> Result<Html<String>, PageError> {
    let stored = api_deliveries::stored(&state.db, &delivery_id)
        .await
        .map_err(|e| PageError::new(e, &session))?;
    let detail = DeliveryDetail::from(stored);
    let d = &detail.summary;
    let body_text = detail.body_text.as_deref();
    let shown = body_text.map(|text| cut(text, BODY_SHOWN_BYTES));
    let body = html! {
        (notice(params.notice.as_deref()))
        dl.record {
            dt { "Delivery" } dd { code { (d.delivery_id) } }
            @if let Some(webhook) = &d.webhook_id { dt { "Webhook id" } dd { code { (webhook) } } }
            dt { "Event" } dd { (d.event.as_deref().unwrap_or("–")) }
            dt { "Outcome" } dd { (badge(d.outcome.as_str())) }
            @if let Some(app_id) = &d.app_id { dt { "App" } dd { code { (app_id) } } }
            @if let Some(reason) = &d.reason { dt { "Reason" } dd.error-text { (reason) } }
            @if let Some(id) = &d.session_id { dt { "Session" } dd { a href=(paths::session_href(id)) { code { (id) } } } }
            dt { "Received" } dd { (time(d.received_at)) }
            @if let Some(at) = d.replayed_at { dt { "Last replayed" } dd { (time(at)) } }
            dt { "Body" } dd { (human::size(d.body_size_bytes)) ", kept as " (detail.body_kept_as) }
        }
        @if session.can_operate() {
            p {
                (action_button(&session, &format!("{}/replay", paths::delivery_href(&d.delivery_id)), "Replay"))
                " Classify this body again as if it had just arrived (recorded once, whatever the number of replays)."
            }
        }
        h2 { "Body, exactly as received" }
        @match shown {
            Some((text, false)) => pre.body { (text) },
            Some((text, true)) => {
                p.hint { "The first " (human::size(BODY_SHOWN_BYTES as i64)) " of it; the whole body: " code { "rtk-sessions deliveries show " (d.delivery_id) " --raw" } "." }
                pre.body { (text) }
            },
            None => p.hint { "Not UTF-8 text: " code { "rtk-sessions deliveries show " (d.delivery_id) " --raw" } " writes the bytes." },
        }
    };
    Ok(page("Delivery", Some(&session), Section::Deliveries, body))
}

/// At most `max` bytes of `text`, cut at a character boundary; and whether it was cut.
fn cut(text: &str, max: usize) -> (&str, bool) {
    if text.len() <= max {
        return (text, false);
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    (&text[..end], true)
}

#[derive(Deserialize)]
pub struct ReplayForm {
    #[serde(default)]
    csrf: String,
}

pub async fn replay(
    State(state): State<AppState>,
    session: ConsoleSession,
    Path(delivery_id): Path<String>,
    Form(form): Form<ReplayForm>,
) -> Result<Response, PageError> {
    let fail = |e: ApiError| PageError::new(e, &session);
    session.check_csrf(&form.csrf).map_err(fail)?;
    session.check_operate().map_err(fail)?;
    let replayed = api_deliveries::replay_one(&state.db, &delivery_id, state.ingest.jobs(), state.realtimekit.apps())
        .await
        .map_err(fail)?;
    tracing::info!(token = %session.caller.token_name, delivery_id = %replayed.delivery_id, "console: replayed a delivery");
    Ok(Redirect::to(&format!(
        "{}?notice={}",
        paths::delivery_href(&delivery_id),
        views::Notice::Replayed(replayed.outcome).code()
    ))
    .into_response())
}
