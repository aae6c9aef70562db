//! Signing in to the console. The token is pasted once; the browser then holds a cookie with a signed, expiring
//! session (the token's name, its scope and when the session ends), never the token. Every form that changes
//! something carries a CSRF token derived from that session and is refused without it.
//!
//! A session is checked against the configuration on every request: a token removed, given a lower scope or a new
//! secret ends the sessions it opened.

use std::time::Duration;

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use cookie::{Cookie, SameSite};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use tokio::sync::OnceCell;

use super::super::AppState;
use super::super::auth::Caller;
use super::super::error::ApiError;
use crate::domain::{ApiToken, Scope};
use crate::store::console_key;

/// The session cookie, sent only to the console's paths.
pub const SESSION_COOKIE: &str = "rtk_console";
/// The sign-in form's own CSRF cookie (double submit): a stranger's page cannot sign a browser in as someone else.
const SIGN_IN_COOKIE: &str = "rtk_console_sign_in";

/// What the console needs to sign and check its sessions.
pub struct ConsoleAuth {
    ttl: Duration,
    /// `Secure` cookies: the service is reached over https (`server.public_url`).
    secure: bool,
    /// From the database on first use (see `store::console_key`).
    key: OnceCell<[u8; 32]>,
}

impl ConsoleAuth {
    pub fn new(ttl: Duration, secure: bool) -> Self {
        Self {
            ttl,
            secure,
            key: OnceCell::new(),
        }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }
}

/// A signed-in browser: who it is, and the CSRF token its forms carry.
#[derive(Debug, Clone)]
pub struct ConsoleSession {
    pub caller: Caller,
    pub expires_at: DateTime<Utc>,
    pub csrf: String,
}

impl ConsoleSession {
    pub fn can_operate(&self) -> bool {
        self.caller.scope.allows(Scope::Operate)
    }

    /// Refuses a form whose CSRF token is missing or not this session's.
    pub fn check_csrf(&self, presented: &str) -> Result<(), ApiError> {
        if bool::from(self.csrf.as_bytes().ct_eq(presented.as_bytes())) {
            Ok(())
        } else {
            Err(csrf_refused())
        }
    }

    /// Refuses an action to a `read` session (its pages show no such button; a forged form gets this).
    pub fn check_operate(&self) -> Result<(), ApiError> {
        super::super::auth::check_scope(&self.caller, &axum::http::Method::POST)
    }
}

pub fn csrf_refused() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::FORBIDDEN,
        "csrf_refused",
        "this form is missing its CSRF token or carries another session's; reload the page and try again",
    )
}

async fn key(state: &AppState) -> Result<&[u8; 32], ApiError> {
    Ok(state
        .console
        .key
        .get_or_try_init(|| console_key::get_or_create(&state.db))
        .await?)
}

fn mac(key: &[u8; 32], purpose: &str, data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(purpose.as_bytes());
    mac.update(b"\0");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// Ties a session to its token's secret without holding anything of it: a new secret under the same name ends the
/// sessions of the old one.
fn fingerprint(key: &[u8; 32], token: &ApiToken) -> String {
    URL_SAFE_NO_PAD.encode(&mac(key, "token", token.sha256())[..12])
}

/// The cookie value: `base64url(name|scope|expires|fingerprint|nonce)` `.` `base64url(hmac)`. The nonce makes
/// every sign-in a session of its own, with a CSRF token of its own.
fn seal(key: &[u8; 32], token: &ApiToken, expires_at: DateTime<Utc>) -> String {
    let payload = format!(
        "{}|{}|{}|{}|{}",
        token.name,
        token.scope,
        expires_at.timestamp(),
        fingerprint(key, token),
        URL_SAFE_NO_PAD.encode(rand::random::<[u8; 12]>())
    );
    let signature = mac(key, "session", payload.as_bytes());
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(payload),
        URL_SAFE_NO_PAD.encode(signature)
    )
}

/// The session a cookie value holds, if its signature is ours, it has not expired and its token is still
/// configured with the same scope and secret.
fn open(state: &AppState, key: &[u8; 32], value: &str, now: DateTime<Utc>) -> Option<ConsoleSession> {
    let (payload, signature) = value.split_once('.')?;
    let payload = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
    let expected = mac(key, "session", &payload);
    if !bool::from(expected.ct_eq(&signature)) {
        return None;
    }
    let payload = String::from_utf8(payload).ok()?;
    let mut fields = payload.split('|');
    let (name, scope, expires, print) = (fields.next()?, fields.next()?, fields.next()?, fields.next()?);
    let _nonce = fields.next()?;
    let expires_at = DateTime::from_timestamp(expires.parse().ok()?, 0)?;
    if expires_at <= now {
        return None;
    }
    let token = state.api_tokens.named(name)?;
    if token.scope.as_str() != scope || fingerprint(key, token) != print {
        return None;
    }
    Some(ConsoleSession {
        caller: Caller::from(token),
        expires_at,
        csrf: URL_SAFE_NO_PAD.encode(mac(key, "csrf", value.as_bytes())),
    })
}

fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// A console page without a valid session: the browser is sent to sign in, and back to the page afterwards (a
/// link from an alert to a session's page survives the sign-in).
pub struct SignInFirst {
    next: Option<String>,
}

impl IntoResponse for SignInFirst {
    fn into_response(self) -> Response {
        match self.next {
            Some(next) => Redirect::to(&format!("{}?next={}", super::SIGN_IN, super::views::query_value(&next))),
            None => Redirect::to(super::SIGN_IN),
        }
        .into_response()
    }
}

/// Where to go after signing in: a console page, never anywhere else, and only as printable ASCII (what the
/// sign-out redirect itself sends; anything else could not be a `Location` header).
pub fn next_page(next: Option<&str>) -> &str {
    match next {
        Some(next) if next.starts_with(super::ROOT) && next.bytes().all(|b| b.is_ascii_graphic()) => next,
        _ => super::ROOT,
    }
}

impl FromRequestParts<AppState> for ConsoleSession {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        match <Self as OptionalFromRequestParts<AppState>>::from_request_parts(parts, state).await {
            Ok(Some(session)) => Ok(session),
            Ok(None) => {
                // Back to a page after signing in; a form's target is not a page to come back to.
                let next = (parts.method == axum::http::Method::GET)
                    .then(|| parts.uri.path_and_query().map(|p| p.as_str().to_owned()))
                    .flatten()
                    .filter(|next| next != super::ROOT);
                Err(SignInFirst { next }.into_response())
            }
            Err(error) => Err(error),
        }
    }
}

impl OptionalFromRequestParts<AppState> for ConsoleSession {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Option<Self>, Response> {
        // Already checked for this request (see `require_session`).
        if let Some(session) = parts.extensions.get::<Self>() {
            return Ok(Some(session.clone()));
        }
        let Some(value) = cookie_value(&parts.headers, SESSION_COOKIE) else {
            return Ok(None);
        };
        let key = key(state).await.map_err(IntoResponse::into_response)?;
        let session = open(state, key, value, Utc::now());
        if let Some(session) = &session {
            tracing::Span::current().record("token", session.caller.token_name.as_str());
        }
        Ok(session)
    }
}

/// Signs a browser in with a pasted token: the `Set-Cookie` of its session, or `None` for a token that is not one.
pub async fn sign_in(state: &AppState, presented: &str) -> Result<Option<(HeaderValue, Caller)>, ApiError> {
    let Some(token) = state.api_tokens.identify(presented.trim()) else {
        return Ok(None);
    };
    let key = key(state).await?;
    let ttl = state.console.ttl;
    let expires_at = Utc::now() + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::hours(8));
    let cookie = build_cookie(
        SESSION_COOKIE,
        seal(key, token, expires_at),
        Some(ttl),
        state.console.secure,
    );
    Ok(Some((cookie, Caller::from(token))))
}

/// The `Set-Cookie` that ends a session.
pub fn sign_out_cookie(state: &AppState) -> HeaderValue {
    build_cookie(
        SESSION_COOKIE,
        String::new(),
        Some(Duration::ZERO),
        state.console.secure,
    )
}

/// A fresh sign-in form's CSRF value and the cookie that carries it (ten minutes to fill the form in).
pub fn sign_in_form_token(state: &AppState) -> (String, HeaderValue) {
    let value = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 24]>());
    let cookie = build_cookie(
        SIGN_IN_COOKIE,
        value.clone(),
        Some(Duration::from_secs(600)),
        state.console.secure,
    );
    (value, cookie)
}

/// The `Set-Cookie` that drops the sign-in form's cookie once it has served.
pub fn sign_in_form_done(state: &AppState) -> HeaderValue {
    build_cookie(
        SIGN_IN_COOKIE,
        String::new(),
        Some(Duration::ZERO),
        state.console.secure,
    )
}

/// True when the sign-in form's CSRF field matches its cookie.
pub fn sign_in_form_is_genuine(headers: &HeaderMap, presented: &str) -> bool {
    cookie_value(headers, SIGN_IN_COOKIE)
        .is_some_and(|expected| !expected.is_empty() && bool::from(expected.as_bytes().ct_eq(presented.as_bytes())))
}

fn build_cookie(name: &'static str, value: String, max_age: Option<Duration>, secure: bool) -> HeaderValue {
    let mut cookie = Cookie::build((name, value))
        .path(super::ROOT)
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure);
    if let Some(max_age) = max_age {
        let secs = i64::try_from(max_age.as_secs()).unwrap_or(i64::MAX);
        cookie = cookie.max_age(cookie::time::Duration::seconds(secs));
    }
    HeaderValue::from_str(&cookie.build().to_string()).expect("a cookie of base64url text is a valid header value")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_session_names_no_secret_and_a_changed_byte_breaks_it() {
        let key = [7u8; 32];
        let token = ApiToken::from_value("support", Scope::Read, "the-secret-token");
        let value = seal(&key, &token, Utc::now() + chrono::Duration::hours(1));
        assert!(!value.contains("the-secret-token"));
        let (payload, _) = value.split_once('.').expect("two parts");
        let decoded = String::from_utf8(URL_SAFE_NO_PAD.decode(payload).expect("base64")).expect("text");
        assert!(decoded.starts_with("support|read|"), "{decoded}");
        let mut forged = value.into_bytes();
        forged[3] ^= 1;
        let forged = String::from_utf8(forged).unwrap_or_default();
        let signature_ok = forged.split_once('.').is_some_and(|(p, s)| {
            let expected = mac(&key, "session", &URL_SAFE_NO_PAD.decode(p).unwrap_or_default());
            URL_SAFE_NO_PAD.decode(s).is_ok_and(|s| s == expected)
        });
        assert!(!signature_ok);
    }
}
