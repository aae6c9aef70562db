//! `rtk-sessions tokens`: the `[[api.tokens]]` entry of a token, holding its SHA-256 so that the configuration
//! holds nothing anyone can present.

use anyhow::bail;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::domain::Scope;
use crate::domain::access::{MIN_TOKEN_CHARS, check_token_name, token_sha256};

/// The TOML entry for a token, checked as the configuration will check it.
pub fn entry(name: &str, scope: Scope, token: &str) -> anyhow::Result<String> {
    if token.trim().is_empty() {
        bail!("no token on stdin: pipe one in, e.g. `printf %s \"$TOKEN\" | rtk-sessions tokens hash --name support`");
    }
    if token.trim() != token {
        bail!("the token starts or ends with spaces; the service would not accept it as sent");
    }
    if token.chars().count() < MIN_TOKEN_CHARS {
        bail!(
            "the token is shorter than {MIN_TOKEN_CHARS} characters, which a stranger could guess; \
             `rtk-sessions tokens new` makes a random one"
        );
    }
    check_token_name(name).map_err(|e| anyhow::anyhow!("--name: {e}"))?;
    let digest = hex::encode(token_sha256(token));
    Ok(format!(
        "[[api.tokens]]\nname = \"{name}\"\nscope = \"{scope}\"\nsha256 = \"{digest}\""
    ))
}

/// A new token: 32 random bytes, base64url (43 characters).
pub fn generate() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_entry_holds_the_digest_and_never_the_token() {
        let token = "s3cret-token-of-at-least-32-characters";
        let printed = entry("support", Scope::Read, token).expect("an entry");
        assert!(printed.contains("scope = \"read\"") && printed.contains(&hex::encode(token_sha256(token))));
        assert!(!printed.contains(token));
        assert!(entry("support", Scope::Read, "").is_err());
        let short = entry("support", Scope::Read, "s3cret")
            .expect_err("too short")
            .to_string();
        assert!(short.contains("32 characters") && !short.contains("s3cret"), "{short}");
        assert!(entry("has space", Scope::Read, "x").is_err());
        assert_ne!(generate(), generate());
    }
}
