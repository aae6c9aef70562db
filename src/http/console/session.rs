//! Signing in to the console. The token is pasted once; the browser then holds a cookie with a signed session id
//! (and the token's name and scope), never the token. The session itself lives on the server
//! (`store::console_sessions`): signing out ends it for good, every session of a token can be ended at once, and
//! its life is what the server granted (`console.session_ttl_secs`), whatever the cookie says. Every form that
//! changes something carries a CSRF token derived from that session and is refused without it.
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
use cookie::{Cookie, SameSite};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use tokio::sync::OnceCell;

use super::super::AppState;
use super::super::auth::Caller;
use super::super::error::ApiError;
use crate::domain::{ApiToken, Scope};
use crate::store::{console_key, console_sessions};

/// The session cookie, sent only to the console's paths; over https `__Host-rtk_console` (see [`cookie_name`]).
pub const SESSION_COOKIE: &str = "rtk_console";
/// The sign-in form's own CSRF cookie (double submit): a stranger's page cannot sign a browser in as someone else.
const SIGN_IN_COOKIE: &str = "rtk_console_sign_in";

/// Over https a cookie is named with the `__Host-` prefix, which browsers accept only when it is `Secure`, for the
/// whole host (`Path=/`) and without a `Domain`: a sibling subdomain cannot plant or shadow it.
fn cookie_name(name: &'static str, secure: bool) -> String {
    if secure {
        format!("__Host-{name}")
    } else {
        name.to_owned()
    }
}

/// What the console needs to sign and check its sessions.
pub struct ConsoleAuth {
    ttl: Duration,
    /// `Secure` cookies: the service is reached over https (`server.public_url`).
    secure: bool,
    /// From the database on first use (see `store::console_key`).
    key: OnceCell<[u8; 32]>,
    /// Wrong tokens at the sign-in form, per client address.
    pub throttle: super::throttle::SignInThrottle,
}

impl ConsoleAuth {
    pub fn new(ttl: Duration, secure: bool) -> Self {
        Self {
            ttl,
            secure,
            key: OnceCell::new(),
            throttle: Default::default(),
        }
    }

    /// Served over https (`server.public_url`): `Secure` and `__Host-` cookies, and HSTS.
    pub fn is_https(&self) -> bool {
        self.secure
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }
}

/// A signed-in browser: who it is, its session on the server, and the CSRF token its forms carry.
#[derive(Debug, Clone)]
pub struct ConsoleSession {
    pub caller: Caller,
    /// The server's id of the session (what signing out ends).
    pub id: Vec<u8>,
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

/// The cookie value: `base64url(name|scope|fingerprint|session id)` `.` `base64url(hmac)`. The session id is the
/// server's record of the sign-in (random, 16 bytes), so every sign-in is a session of its own, with a CSRF token of
/// its own. No expiry is carried: the server's record says when the session ends.
fn seal(key: &[u8; 32], token: &ApiToken, id: &[u8; 16]) -> String {
    let payload = format!(
        "{}|{}|{}|{}",
        token.name,
        token.scope,
        fingerprint(key, token),
        URL_SAFE_NO_PAD.encode(id)
    );
    let signature = mac(key, "session", payload.as_bytes());
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(payload),
        URL_SAFE_NO_PAD.encode(signature)
    )
}

/// What a cookie value claims, if its signature is ours and its token is still configured with the same scope and
/// secret; whether the session is live is the server's record to say (see [`open`]).
fn unseal(state: &AppState, key: &[u8; 32], value: &str) -> Option<ConsoleSession> {
    let (payload, signature) = value.split_once('.')?;
    let payload = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
    let expected = mac(key, "session", &payload);
    if !bool::from(expected.ct_eq(&signature)) {
        return None;
    }
    let payload = String::from_utf8(payload).ok()?;
    let mut fields = payload.split('|');
    let (name, scope, print, id) = (fields.next()?, fields.next()?, fields.next()?, fields.next()?);
    let id = URL_SAFE_NO_PAD.decode(id).ok().filter(|id| id.len() == 16)?;
    let token = state.api_tokens.named(name)?;
    if token.scope.as_str() != scope || fingerprint(key, token) != print {
        return None;
    }
    Some(ConsoleSession {
        caller: Caller::from(token),
        id,
        csrf: URL_SAFE_NO_PAD.encode(mac(key, "csrf", value.as_bytes())),
    })
}

/// The session a cookie value holds, if [`unseal`] accepts it and the server's record of it is live.
async fn open(state: &AppState, key: &[u8; 32], value: &str) -> Result<Option<ConsoleSession>, ApiError> {
    let Some(session) = unseal(state, key, value) else {
        return Ok(None);
    };
    let live = console_sessions::is_live(&state.db, &session.id, &session.caller.token_name, state.console.ttl).await?;
    Ok(live.then_some(session))
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
            Some(next) => Redirect::to(&format!(
                "{}?next={}",
                super::paths::SIGN_IN,
                super::paths::query_value(&next)
            )),
            None => Redirect::to(super::paths::SIGN_IN),
        }
        .into_response()
    }
}

/// Where to go after signing in: a console page, never anywhere else, and only as printable ASCII (what the
/// sign-out redirect itself sends; anything else could not be a `Location` header).
pub fn next_page(next: Option<&str>) -> &str {
    match next {
        Some(next) if next.starts_with(super::paths::ROOT) && next.bytes().all(|b| b.is_ascii_graphic()) => next,
        _ => super::paths::ROOT,
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
                    .filter(|next| next != super::paths::ROOT);
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
        let name = cookie_name(SESSION_COOKIE, state.console.secure);
        let Some(value) = cookie_value(&parts.headers, &name) else {
            return Ok(None);
        };
        let key = key(state).await.map_err(IntoResponse::into_response)?;
        let session = open(state, key, value).await.map_err(IntoResponse::into_response)?;
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
    let id: [u8; 16] = rand::random();
    console_sessions::create(&state.db, &id, &token.name, ttl).await?;
    let cookie = build_cookie(SESSION_COOKIE, seal(key, token, &id), Some(ttl), state.console.secure);
    Ok(Some((cookie, Caller::from(token))))
}

/// Which sessions a sign-out ends.
#[derive(Debug, Clone, Copy)]
pub enum SignOut {
    ThisBrowser,
    /// Every session of the token, this one included.
    Everywhere,
}

/// Ends sessions on the server (a captured cookie no longer works); returns how many, and the `Set-Cookie` that
/// drops this browser's.
pub async fn sign_out(
    state: &AppState,
    session: &ConsoleSession,
    which: SignOut,
) -> Result<(u64, HeaderValue), ApiError> {
    let ended = match which {
        SignOut::ThisBrowser => console_sessions::end(&state.db, &session.id).await?,
        SignOut::Everywhere => console_sessions::end_all_of_token(&state.db, &session.caller.token_name).await?,
    };
    let dropped = build_cookie(
        SESSION_COOKIE,
        String::new(),
        Some(Duration::ZERO),
        state.console.secure,
    );
    Ok((ended, dropped))
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
pub fn sign_in_form_is_genuine(state: &AppState, headers: &HeaderMap, presented: &str) -> bool {
    cookie_value(headers, &cookie_name(SIGN_IN_COOKIE, state.console.secure))
        .is_some_and(|expected| !expected.is_empty() && bool::from(expected.as_bytes().ct_eq(presented.as_bytes())))
}

fn build_cookie(name: &'static str, value: String, max_age: Option<Duration>, secure: bool) -> HeaderValue {
    // `__Host-` cookies must be for the whole host.
    let path = if secure { "/" } else { super::paths::ROOT };
    let mut cookie = Cookie::build((cookie_name(name, secure), value))
        .path(path)
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
        let value = seal(&key, &token, &[3u8; 16]);
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
