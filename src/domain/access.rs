//! Who may call the operator API and the console: named tokens, each with a scope. Only a token's SHA-256 is kept,
//! so that a configuration file holding `sha256 = "..."` holds nothing anyone can present.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::names::UnknownValue;

/// What a token may do. `Read` may call every `GET`; `Operate` may also act: end meetings, retry follow-ups,
/// replay deliveries. Ordered: a scope allows what every lower one does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Read,
    Operate,
}

impl Scope {
    pub const ALL: [Self; 2] = [Self::Read, Self::Operate];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Operate => "operate",
        }
    }

    pub fn parse(text: &str) -> Result<Self, UnknownValue> {
        UnknownValue::or_variant(&Self::ALL, Self::as_str, "token scope", text.to_owned())
    }

    /// True when a holder of this scope may do what `needed` guards.
    pub fn allows(self, needed: Scope) -> bool {
        self >= needed
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Tokens are guessed by whoever reaches the URL: one given by its value must be this long at least. (A digest
/// cannot be checked; `rtk-sessions tokens hash` refuses a short token before printing one.)
pub const MIN_TOKEN_CHARS: usize = 32;

/// A configured token: its name (what logs and the console show), its scope, and the SHA-256 of its value.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiToken {
    pub name: String,
    pub scope: Scope,
    sha256: [u8; 32],
}

impl ApiToken {
    /// A token given by its value (`token = "..."`, or an entry of the flat list).
    pub fn from_value(name: impl Into<String>, scope: Scope, value: &str) -> Self {
        Self {
            name: name.into(),
            scope,
            sha256: token_sha256(value),
        }
    }

    /// A token given by the hex SHA-256 of its value (`sha256 = "..."`, as `rtk-sessions tokens hash` prints it).
    pub fn from_sha256_hex(name: impl Into<String>, scope: Scope, hex_digest: &str) -> Result<Self, String> {
        let bytes = hex::decode(hex_digest.trim())
            .ok()
            .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
            .ok_or_else(|| {
                "sha256 must be 64 hexadecimal characters (`rtk-sessions tokens hash` prints it)".to_owned()
            })?;
        Ok(Self {
            name: name.into(),
            scope,
            sha256: bytes,
        })
    }

    pub fn sha256(&self) -> &[u8; 32] {
        &self.sha256
    }
}

/// A token's name is shown in logs and pages and carried in console sessions: 1 to 64 letters, digits, `-`, `_`,
/// `.` or `@`.
pub fn check_token_name(name: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "-_.@".contains(c);
    if name.is_empty() || name.len() > 64 || !name.chars().all(allowed) {
        return Err("a token's name is 1 to 64 letters, digits, `-`, `_`, `.` or `@`".to_owned());
    }
    Ok(())
}

/// The SHA-256 of a token's value: how a presented token is compared, and what the configuration may hold.
pub fn token_sha256(value: &str) -> [u8; 32] {
    Sha256::digest(value.as_bytes()).into()
}

/// Never the digest: a short token's digest could be reversed by guessing.
impl fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiToken")
            .field("name", &self.name)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// What a printed configuration shows of a token: its name and scope.
impl Serialize for ApiToken {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut entry = serializer.serialize_struct("ApiToken", 2)?;
        entry.serialize_field("name", &self.name)?;
        entry.serialize_field("scope", &self.scope)?;
        entry.end()
    }
}

/// The configured API tokens, found by the value a caller presents.
pub struct ApiTokens {
    tokens: Vec<ApiToken>,
}

impl ApiTokens {
    pub fn new(tokens: &[ApiToken]) -> Self {
        Self {
            tokens: tokens.to_vec(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The configured token whose value `candidate` is. Every token is compared, whichever matches.
    pub fn identify(&self, candidate: &str) -> Option<&ApiToken> {
        let candidate = token_sha256(candidate);
        let mut found = None;
        for token in &self.tokens {
            if bool::from(token.sha256().ct_eq(&candidate)) {
                found = Some(token);
            }
        }
        found
    }

    /// The configured token of this name (a console session names its token).
    pub fn named(&self, name: &str) -> Option<&ApiToken> {
        self.tokens.iter().find(|token| token.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_configured_tokens_are_accepted_and_known_by_name() {
        let tokens = ApiTokens::new(&[
            ApiToken::from_value("a", Scope::Read, "alpha"),
            ApiToken::from_value("b", Scope::Operate, "beta"),
        ]);
        assert_eq!(tokens.identify("alpha").map(|t| t.name.as_str()), Some("a"));
        assert_eq!(tokens.identify("beta").map(|t| t.scope), Some(Scope::Operate));
        assert!(tokens.identify("alph").is_none());
        assert!(tokens.identify("").is_none());
        assert!(ApiTokens::new(&[]).identify("").is_none());
    }

    #[test]
    fn operate_allows_what_read_allows_and_not_the_reverse() {
        assert!(Scope::Operate.allows(Scope::Read));
        assert!(Scope::Operate.allows(Scope::Operate));
        assert!(Scope::Read.allows(Scope::Read));
        assert!(!Scope::Read.allows(Scope::Operate));
    }

    #[test]
    fn a_token_given_by_value_or_by_digest_is_the_same_token() {
        let hex_digest = hex::encode(token_sha256("s3cret"));
        let by_digest = ApiToken::from_sha256_hex("ops", Scope::Read, &hex_digest).expect("valid digest");
        assert_eq!(by_digest, ApiToken::from_value("ops", Scope::Read, "s3cret"));
        assert!(ApiToken::from_sha256_hex("ops", Scope::Read, "abc").is_err());
        let printed = format!("{by_digest:?} {}", serde_json::to_string(&by_digest).expect("json"));
        assert!(!printed.contains(&hex_digest), "{printed}");
    }
}
