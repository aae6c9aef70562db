//! Bearer tokens for the operator endpoints. Tokens are compared in constant time on their SHA-256 digests, so
//! neither their content nor their length leaks through timing.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::Response;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::AppState;
use super::error::ApiError;
use crate::domain::Secret;

pub struct ApiTokens {
    digests: Vec<[u8; 32]>,
}

impl ApiTokens {
    pub fn new(tokens: &[Secret]) -> Self {
        Self {
            digests: tokens
                .iter()
                .map(|t| Sha256::digest(t.expose().as_bytes()).into())
                .collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.digests.is_empty()
    }

    pub fn accepts(&self, candidate: &str) -> bool {
        let candidate: [u8; 32] = Sha256::digest(candidate.as_bytes()).into();
        // Every token is compared, whichever matches.
        self.digests
            .iter()
            .fold(subtle::Choice::from(0), |found, digest| {
                found | digest.ct_eq(&candidate)
            })
            .into()
    }
}

/// The only routes reachable without a token: the receiver (it has its signature), the health checks and the API
/// description.
pub const PUBLIC_PATHS: [&str; 4] = [super::WEBHOOK_PATH, "/healthz", "/readyz", "/openapi.json"];

pub async fn require_bearer(State(state): State<AppState>, request: Request, next: Next) -> Result<Response, ApiError> {
    if PUBLIC_PATHS.contains(&request.uri().path()) {
        return Ok(next.run(request).await);
    }
    if state.api_tokens.is_empty() {
        return Err(ApiError::unauthorized_bearer(
            "no API token is configured; set api.tokens (RTK_SESSIONS__API__TOKENS) to use the operator API",
        ));
    }
    match bearer_token(request.headers()) {
        Some(token) if state.api_tokens.accepts(token) => Ok(next.run(request).await),
        Some(_) => Err(ApiError::unauthorized_bearer("the bearer token is not valid")),
        None => Err(ApiError::unauthorized_bearer(
            "an Authorization: Bearer <token> header is required",
        )),
    }
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
    fn only_configured_tokens_are_accepted() {
        let tokens = ApiTokens::new(&[Secret::new("alpha"), Secret::new("beta")]);
        assert!(tokens.accepts("alpha"));
        assert!(tokens.accepts("beta"));
        assert!(!tokens.accepts("alph"));
        assert!(!tokens.accepts(""));
        assert!(!ApiTokens::new(&[]).accepts(""));
    }
}
