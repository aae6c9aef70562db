//! The operator console at `/console`: server-rendered pages over the same store and the same operations as the
//! API, for people. Signed in with a token once (see [`session`]); a `read` session sees no buttons that act, and
//! an action of a `read` session is refused like the API refuses it.
//!
//! Every page answers without JavaScript; the one script (`console.js`) shows times and takes dates in the
//! browser's time zone, and leads the navigation back to each list's last filters. Every answer carries a strict Content-Security-Policy and refuses framing; pages are never cached, the
//! assets are (see [`assets`]).

mod assets;
mod chart;
mod deliveries;
mod followups;
mod jobs;
mod meetings;
mod overview;
mod pager;
mod paths;
pub mod session;
mod session_page;
mod sessions;
mod throttle;
mod views;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Form, FromRequestParts, Query, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::html;
use serde::Deserialize;

pub use self::paths::{ASSETS, BROWSER_ENTRIES, PREFIX, ROOT, SIGN_IN};
use self::paths::{FAVICON, SIGN_OUT, SIGN_OUT_EVERYWHERE};
use self::session::{ConsoleSession, SignOut};
use self::views::{PageError, Section, page};
use super::AppState;
use super::error::ApiError;
use crate::domain::human;

/// The largest form the console accepts (a pasted token, a filter, a CSRF token).
const FORM_LIMIT_BYTES: usize = 16 * 1024;

pub fn routes(state: AppState) -> Router<AppState> {
    Router::new()
        .route(ROOT, get(overview::show))
        .route(SIGN_IN, get(sign_in_form).post(sign_in))
        .route(SIGN_OUT, post(sign_out))
        .route(SIGN_OUT_EVERYWHERE, post(sign_out_everywhere))
        .route("/console/sessions", get(sessions::list))
        .route("/console/sessions/{session_id}", get(session_page::show))
        .route(
            "/console/sessions/{session_id}/artifacts/{kind}",
            get(session_page::download),
        )
        .route(
            "/console/sessions/{session_id}/artifacts/recordings/{recording_id}",
            get(session_page::download_recording),
        )
        .route(
            "/console/sessions/{session_id}/artifacts/recordings/{recording_id}/files/{name}",
            get(session_page::download_recording_file),
        )
        .route("/console/followups", get(followups::list))
        .route(
            "/console/followups/retry",
            get(followups::confirm_retry_matching).post(followups::retry_matching),
        )
        .route("/console/followups/{id}/retry", post(followups::retry_one))
        .route("/console/deliveries", get(deliveries::list))
        .route("/console/deliveries/{delivery_id}", get(deliveries::show))
        .route("/console/deliveries/{delivery_id}/replay", post(deliveries::replay))
        .route("/console/artifacts", get(overview::artifacts_at_risk))
        .route("/console/meetings/end", get(meetings::form).post(meetings::end))
        // A console path that is no page is a console page that says so (with the navigation), not the API's JSON.
        .route(
            "/console/{*unknown}",
            get(|session: ConsoleSession| async move {
                PageError::new(ApiError::not_found("no such console page"), &session)
            }),
        )
        .route("/", get(|| async { Redirect::to(ROOT) }))
        .route("/favicon.ico", get(|| async { Redirect::permanent(FAVICON) }))
        .route(
            "/console/assets/favicon.svg",
            get(|h: HeaderMap| async move { assets::FAVICON.serve(&h) }),
        )
        .route(
            "/console/assets/console.css",
            get(|h: HeaderMap| async move { assets::STYLESHEET.serve(&h) }),
        )
        .route(
            "/console/assets/console.js",
            get(|h: HeaderMap| async move { assets::SCRIPT.serve(&h) }),
        )
        .layer(DefaultBodyLimit::max(FORM_LIMIT_BYTES))
        .layer(from_fn_with_state(state.clone(), require_session))
        .layer(from_fn_with_state(state, security_headers))
}

/// Every console path but sign-in and the assets needs a signed-in session: a new page cannot forget it. The
/// session is left in the request for the handler.
async fn require_session(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if path == SIGN_IN || path.starts_with(ASSETS) || BROWSER_ENTRIES.contains(&path) {
        return next.run(request).await;
    }
    let (mut parts, body) = request.into_parts();
    match <ConsoleSession as FromRequestParts<AppState>>::from_request_parts(&mut parts, &state).await {
        Ok(session) => {
            parts.extensions.insert(session);
            next.run(Request::from_parts(parts, body)).await
        }
        Err(sign_in_first) => sign_in_first,
    }
}

/// On every console answer: no script but our own file, no inline script or style, no framing, no referrer
/// outside the service, no caching (pages show live state and carry CSRF tokens), and over https, HSTS: a browser
/// that has seen the console once never sends its cookie over plain http.
async fn security_headers(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    if state.console.is_https() {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    // Pages are never cached (they show what is true now); the assets say how long they keep.
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    let mut set = |name: HeaderName, value: &'static str| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    set(
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; \
         frame-ancestors 'none'; base-uri 'none'",
    );
    set(header::X_FRAME_OPTIONS, "DENY");
    set(header::REFERRER_POLICY, "same-origin");

    set(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    response
}

#[derive(Deserialize, Default)]
struct SignInParams {
    next: Option<String>,
}

async fn sign_in_form(
    State(state): State<AppState>,
    session: Option<ConsoleSession>,
    Query(params): Query<SignInParams>,
) -> Response {
    let next = session::next_page(params.next.as_deref());
    if session.is_some() {
        return Redirect::to(next).into_response();
    }
    sign_in_page(&state, StatusCode::OK, None, next)
}

fn sign_in_page(state: &AppState, status: StatusCode, problem: Option<&str>, next: &str) -> Response {
    let (csrf, cookie) = session::sign_in_form_token(state);
    let no_tokens = state.api_tokens.is_empty();
    let body = html! {
        @if no_tokens {
            p.error role="alert" {
                "No token is configured: set api.tokens (see config.toml), then sign in with one of them."
            }
        }
        @if let Some(problem) = problem {
            p.error role="alert" { (problem) }
        }
        form.card method="post" action=(SIGN_IN) {
            label for="token" { "API token" }
            input #token type="password" name="token" autocomplete="off" required autofocus;
            input type="hidden" name="csrf" value=(csrf);
            input type="hidden" name="next" value=(next);
            button type="submit" { "Sign in" }
            p.hint { "The browser keeps a signed session for " (human::duration(state.console.ttl().as_secs_f64())) ", not the token." }
        }
    };
    (
        status,
        [(header::SET_COOKIE, cookie)],
        page("Sign in", None, Section::SignIn, body),
    )
        .into_response()
}

#[derive(Deserialize)]
struct SignInForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    next: Option<String>,
}

async fn sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    extensions: axum::http::Extensions,
    Form(form): Form<SignInForm>,
) -> Response {
    let next = session::next_page(form.next.as_deref());
    // The TCP peer (see `throttle`); absent only when the router is driven without the server.
    let client = (extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>())
        .map_or(std::net::IpAddr::from([0, 0, 0, 0]), |info| info.0.ip());
    if let Err(wait) = state.console.throttle.check(client) {
        tracing::warn!(%client, "console sign-in refused: too many wrong tokens from this address");
        let minutes = wait.as_secs().div_ceil(60).max(1);
        let mut response = sign_in_page(
            &state,
            StatusCode::TOO_MANY_REQUESTS,
            Some(&format!(
                "Too many wrong tokens from this address; try again in {minutes} min."
            )),
            next,
        );
        let seconds = HeaderValue::from(wait.as_secs().max(1));
        response.headers_mut().insert(header::RETRY_AFTER, seconds);
        return response;
    }
    if !session::sign_in_form_is_genuine(&state, &headers, &form.csrf) {
        return sign_in_page(
            &state,
            StatusCode::FORBIDDEN,
            Some("This sign-in form has expired or did not come from this console; try again."),
            next,
        );
    }
    match session::sign_in(&state, &form.token).await {
        Ok(Some((cookie, caller))) => {
            state.console.throttle.succeeded(client);
            tracing::info!(token = %caller.token_name, scope = %caller.scope, %client, "console sign-in");
            let mut response = Redirect::to(next).into_response();
            response.headers_mut().append(header::SET_COOKIE, cookie);
            response
                .headers_mut()
                .append(header::SET_COOKIE, session::sign_in_form_done(&state));
            response
        }
        Ok(None) => {
            state.console.throttle.failed(client);
            tracing::warn!(%client, "console sign-in refused: the token is not one of api.tokens");
            sign_in_page(&state, StatusCode::UNAUTHORIZED, Some("That token is not valid."), next)
        }
        Err(error) => views::error_page(error, None),
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn sign_out(State(state): State<AppState>, session: ConsoleSession, Form(form): Form<CsrfForm>) -> Response {
    signing_out(&state, &session, &form, SignOut::ThisBrowser).await
}

/// Ends every console session of the signed-in token, on every browser (a token shared too widely, a lost laptop).
async fn sign_out_everywhere(
    State(state): State<AppState>,
    session: ConsoleSession,
    Form(form): Form<CsrfForm>,
) -> Response {
    signing_out(&state, &session, &form, SignOut::Everywhere).await
}

async fn signing_out(state: &AppState, session: &ConsoleSession, form: &CsrfForm, which: SignOut) -> Response {
    if let Err(error) = session.check_csrf(&form.csrf) {
        return views::error_page(error, Some(session));
    }
    match session::sign_out(state, session, which).await {
        Ok((ended, cookie)) => {
            tracing::info!(token = %session.caller.token_name, ?which, ended, "console sign-out");
            ([(header::SET_COOKIE, cookie)], Redirect::to(SIGN_IN)).into_response()
        }
        Err(error) => views::error_page(error, Some(session)),
    }
}
