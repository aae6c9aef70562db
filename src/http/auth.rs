//! Bearer tokens for the operator API. A token is found by its SHA-256, compared in constant time with every
//! configured one, so neither its content nor its length leaks through timing. What a token may do is its scope:
//! `read` for every `GET`, `operate` for everything (see [`scope_needed`]).

use axum::extract::Request;
use axum::http::{HeaderMap, Method, StatusCode, header};

use super::error::ApiError;
use super::state::AppState;
use crate::domain::{ApiToken, Scope};

/// Who a request was authenticated as: the token's name and scope, never its value. Handlers find it in the
/// request's extensions; the request's log lines carry the name (`token`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub token_name: String,
    pub scope: Scope,
}

impl From<&ApiToken> for Caller {
    fn from(token: &ApiToken) -> Self {
        Self {
            token_name: token.name.clone(),
            scope: token.scope,
        }
    }
}

/// The scope an operation needs, from its method alone: reading is `GET` (and `HEAD`), anything else acts. One
/// rule for the API, the console and the OpenAPI document, so a new route cannot be given the wrong one.
pub fn scope_needed(method: &Method) -> Scope {
    if method == Method::GET || method == Method::HEAD {
        Scope::Read
    } else {
        Scope::Operate
    }
}

/// The only routes reachable without a token: the receiver (it has its signature), the health checks and the API
/// description. The console (`/console`) has its own sign-in and checks its session itself.
pub const PUBLIC_PATHS: [&str; 4] = [crate::domain::WEBHOOK_PATH, "/healthz", "/readyz", "/openapi.json"];

/// The console's paths: its pages authenticate with their signed session cookie, not a bearer token.
pub fn is_console_path(path: &str) -> bool {
    path == super::console::ROOT
        || path.starts_with(super::console::PREFIX)
        || super::console::BROWSER_ENTRIES.contains(&path)
}

/// Admits a request to its route: at once on a public route; otherwise with a valid bearer token whose scope covers
/// the method, which the request then carries as its [`Caller`] (see `front_door`).
pub fn admit(state: &AppState, request: &mut Request) -> Result<(), ApiError> {
    let path = request.uri().path();
    if PUBLIC_PATHS.contains(&path) || is_console_path(path) {
        return Ok(());
    }
    if state.api_tokens.is_empty() {
        return Err(ApiError::unauthorized_bearer(
            "no API token is configured; set api.tokens (RTK_SESSIONS__API__TOKENS) to use the operator API",
        ));
    }
    let caller = match bearer_token(request.headers()) {
        Some(token) => match state.api_tokens.identify(token) {
            Some(token) => Caller::from(token),
            None => return Err(ApiError::unauthorized_bearer("the bearer token is not valid")),
        },
        None => {
            return Err(ApiError::unauthorized_bearer(
                "an Authorization: Bearer <token> header is required",
            ));
        }
    };
    tracing::Span::current().record("token", caller.token_name.as_str());
    // OPTIONS and TRACE change nothing and no route serves them: any valid token gets the router's 405 (with
    // `Allow`), not a 403 that would say a higher scope could.
    if !matches!(*request.method(), Method::OPTIONS | Method::TRACE) {
        check_scope(&caller, request.method())?;
    }
    request.extensions_mut().insert(caller);
    Ok(())
}

/// A `403` when the caller's scope does not cover the method.
pub fn check_scope(caller: &Caller, method: &Method) -> Result<(), ApiError> {
    let needed = scope_needed(method);
    if caller.scope.allows(needed) {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        "insufficient_scope",
        format!(
            "the token {:?} has scope {}; {method} needs scope {needed}",
            caller.token_name, caller.scope
        ),
    ))
}

/// The token of an `Authorization: Bearer <token>` header.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            let (scheme, token) = value.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reading_is_get_and_everything_else_operates() {
        assert_eq!(scope_needed(&Method::GET), Scope::Read);
        assert_eq!(scope_needed(&Method::HEAD), Scope::Read);
        for method in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
            assert_eq!(scope_needed(&method), Scope::Operate);
        }
        let reader = Caller {
            token_name: "support".into(),
            scope: Scope::Read,
        };
        assert!(check_scope(&reader, &Method::GET).is_ok());
        let refused = check_scope(&reader, &Method::POST).expect_err("read cannot act");
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    }
}
