//! RealtimeKit's webhook signature: RSASSA-PKCS1-v1_5 with SHA-256 over the raw body bytes, sent as base64 in
//! `rtk-signature`. Verification uses aws-lc-rs with the key parsed once, over the body's SHA-256 that the delivery
//! carries anyway (its deduplication key), so that a body is hashed once; signing (for `dev send`, the load
//! benchmark and the tests) lives here too so that both sides share one definition of the scheme.

use aws_lc_rs::digest::{Digest, SHA256};
use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::KeyPair as _;
use aws_lc_rs::signature::{ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::domain::DeliveryBody;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("not a PEM document (expected -----BEGIN PUBLIC KEY-----)")]
    NotPem,
    #[error("unexpected PEM label {0:?} (expected PUBLIC KEY or RSA PUBLIC KEY)")]
    UnexpectedLabel(String),
    #[error("not an RSA public key of 2048 to 8192 bits")]
    Rejected,
}

/// A parsed RSA public key that verifies RealtimeKit signatures.
pub struct PublicKey {
    parsed: ParsedPublicKey,
    der: Vec<u8>,
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublicKey").field("der_len", &self.der.len()).finish()
    }
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.der == other.der
    }
}

impl PublicKey {
    /// Accepts SPKI (`PUBLIC KEY`) or PKCS#1 (`RSA PUBLIC KEY`) PEM. Literal `\n` sequences are read as line breaks,
    /// as a PEM pasted into an environment variable often has them.
    pub fn from_pem(pem_text: &str) -> Result<Self, KeyError> {
        let normalised = pem_text.trim().replace("\\n", "\n");
        let document = pem::parse(normalised.as_bytes()).map_err(|_| KeyError::NotPem)?;
        match document.tag() {
            "PUBLIC KEY" | "RSA PUBLIC KEY" => Self::from_der(document.contents()),
            other => Err(KeyError::UnexpectedLabel(other.to_owned())),
        }
    }

    pub fn from_der(der: &[u8]) -> Result<Self, KeyError> {
        let parsed = ParsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, der).map_err(|_| KeyError::Rejected)?;
        Ok(Self {
            parsed,
            der: der.to_vec(),
        })
    }

    /// True when `signature` is this key's signature over exactly the bytes of `body`.
    pub fn verifies(&self, body: &DeliveryBody, signature: &[u8]) -> bool {
        // The digest is the body's own SHA-256, computed from its bytes when the body was made.
        Digest::import_less_safe(body.sha256(), &SHA256)
            .is_ok_and(|digest| self.parsed.verify_digest_sig(&digest, signature).is_ok())
    }
}

/// Decodes the `rtk-signature` header value (standard base64, padding optional, surrounding blanks ignored).
pub fn decode_signature_header(value: &[u8]) -> Option<Vec<u8>> {
    let trimmed = value.trim_ascii();
    if trimmed.is_empty() {
        return None;
    }
    STANDARD
        .decode(trimmed)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(trimmed))
        .ok()
        .filter(|bytes| !bytes.is_empty())
}

/// Signs deliveries the way RealtimeKit does.
pub struct WebhookSigner {
    key_pair: KeyPair,
    rng: SystemRandom,
}

/// A freshly generated key pair, PEM encoded.
pub struct GeneratedKeyPair {
    pub private_key_pem: String,
    pub public_key_pem: String,
}

impl WebhookSigner {
    /// Reads a PKCS#8 (`PRIVATE KEY`) or PKCS#1 (`RSA PRIVATE KEY`) PEM private key.
    pub fn from_pem(pem_text: &str) -> anyhow::Result<Self> {
        let document = pem::parse(pem_text.trim().as_bytes()).map_err(|_| anyhow::anyhow!("not a PEM private key"))?;
        let key_pair = match document.tag() {
            "PRIVATE KEY" => KeyPair::from_pkcs8(document.contents()),
            "RSA PRIVATE KEY" => KeyPair::from_der(document.contents()),
            other => anyhow::bail!("unexpected PEM label {other:?} (expected PRIVATE KEY)"),
        }
        .map_err(|e| anyhow::anyhow!("the private key was rejected: {e}"))?;
        Ok(Self {
            key_pair,
            rng: SystemRandom::new(),
        })
    }

    pub fn generate() -> anyhow::Result<(Self, GeneratedKeyPair)> {
        let key_pair = KeyPair::generate(KeySize::Rsa2048).map_err(|_| anyhow::anyhow!("RSA key generation failed"))?;
        let private_der =
            AsDer::<Pkcs8V1Der>::as_der(&key_pair).map_err(|_| anyhow::anyhow!("cannot encode the private key"))?;
        let public_der = AsDer::<PublicKeyX509Der>::as_der(key_pair.public_key())
            .map_err(|_| anyhow::anyhow!("cannot encode the public key"))?;
        let pems = GeneratedKeyPair {
            private_key_pem: pem::encode(&pem::Pem::new("PRIVATE KEY", private_der.as_ref())),
            public_key_pem: pem::encode(&pem::Pem::new("PUBLIC KEY", public_der.as_ref())),
        };
        Ok((
            Self {
                key_pair,
                rng: SystemRandom::new(),
            },
            pems,
        ))
    }

    pub fn public_key_pem(&self) -> anyhow::Result<String> {
        let public_der = AsDer::<PublicKeyX509Der>::as_der(self.key_pair.public_key())
            .map_err(|_| anyhow::anyhow!("cannot encode the public key"))?;
        Ok(pem::encode(&pem::Pem::new("PUBLIC KEY", public_der.as_ref())))
    }

    /// The `rtk-signature` header value for `body`.
    pub fn sign(&self, body: &[u8]) -> String {
        let mut signature = vec![0; self.key_pair.public_modulus_len()];
        self.key_pair
            .sign(&RSA_PKCS1_SHA256, &self.rng, body, &mut signature)
            .expect("signing with a valid RSA key and a correctly sized buffer cannot fail");
        STANDARD.encode(signature)
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    #[test]
    fn a_signature_verifies_only_over_the_exact_bytes() {
        let (signer, pems) = WebhookSigner::generate().expect("keygen");
        let key = PublicKey::from_pem(&pems.public_key_pem).expect("public key");
        let bytes = br#"{"event":"meeting.ended"}"#;
        let body = DeliveryBody::new(Bytes::from_static(bytes));
        let signature = decode_signature_header(signer.sign(bytes).as_bytes()).expect("base64");
        assert!(key.verifies(&body, &signature));
        let respaced = DeliveryBody::new(Bytes::from_static(br#"{"event": "meeting.ended"}"#));
        assert!(!key.verifies(&respaced, &signature));

        let (_, other) = WebhookSigner::generate().expect("keygen");
        let other_key = PublicKey::from_pem(&other.public_key_pem).expect("public key");
        assert!(!other_key.verifies(&body, &signature));
    }

    #[test]
    fn pem_with_escaped_newlines_is_accepted() {
        let (_, pems) = WebhookSigner::generate().expect("keygen");
        let escaped = pems.public_key_pem.replace('\n', "\\n");
        assert!(PublicKey::from_pem(&escaped).is_ok());
    }

    #[test]
    fn malformed_keys_and_signature_headers_are_refused() {
        assert!(matches!(PublicKey::from_pem("hello"), Err(KeyError::NotPem)));
        let wrong_label = pem::encode(&pem::Pem::new("CERTIFICATE", vec![1, 2, 3]));
        assert!(matches!(
            PublicKey::from_pem(&wrong_label),
            Err(KeyError::UnexpectedLabel(_))
        ));
        let garbage = pem::encode(&pem::Pem::new("PUBLIC KEY", vec![1, 2, 3]));
        assert!(matches!(PublicKey::from_pem(&garbage), Err(KeyError::Rejected)));

        assert_eq!(decode_signature_header(b""), None);
        assert_eq!(decode_signature_header(b"   "), None);
        assert_eq!(decode_signature_header(b"not base64!"), None);
        assert_eq!(decode_signature_header(b"AAEC"), Some(vec![0, 1, 2]));
        assert_eq!(decode_signature_header(b"AAE"), Some(vec![0, 1]));
    }
}
