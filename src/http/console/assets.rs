//! The console's three files (style, icon, script), built into the binary. Pages link each with its
//! content's hash (`?v=`), so a browser keeps it for a day and still fetches a new release's at once; an `ETag`
//! answers a revalidation with 304.

use std::sync::LazyLock;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::paths::ASSETS;

pub struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
    /// `"<16 hex of the body's SHA-256>"`, quoted as an ETag is.
    etag: LazyLock<String>,
}

macro_rules! asset {
    ($name:literal, $content_type:literal) => {
        Asset {
            name: $name,
            content_type: $content_type,
            body: include_str!(concat!("assets/", $name)),
            etag: LazyLock::new(|| {
                let digest = Sha256::digest(include_str!(concat!("assets/", $name)).as_bytes());
                format!("\"{}\"", &hex::encode(digest)[..16])
            }),
        }
    };
}

pub static STYLESHEET: Asset = asset!("console.css", "text/css; charset=utf-8");
pub static FAVICON: Asset = asset!("favicon.svg", "image/svg+xml");
pub static SCRIPT: Asset = asset!("console.js", "text/javascript; charset=utf-8");

/// How long a browser keeps an asset without asking again.
const CACHE_CONTROL: &str = "public, max-age=86400";

impl Asset {
    /// The link a page gives it: its path, with its version.
    pub fn href(&self) -> String {
        format!("{ASSETS}/{}?v={}", self.name, self.etag.trim_matches('"'))
    }

    /// The file, or 304 when the browser already has this version.
    pub fn serve(&self, request: &HeaderMap) -> Response {
        let etag = HeaderValue::from_str(&self.etag).unwrap_or(HeaderValue::from_static("\"\""));
        let cached = (request.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()))
            .is_some_and(|tags| tags.split(',').any(|tag| tag.trim() == *self.etag || tag.trim() == "*"));
        let headers = [
            (header::ETAG, etag),
            (header::CACHE_CONTROL, HeaderValue::from_static(CACHE_CONTROL)),
            (header::CONTENT_TYPE, HeaderValue::from_static(self.content_type)),
        ];
        if cached {
            (StatusCode::NOT_MODIFIED, headers).into_response()
        } else {
            (headers, self.body).into_response()
        }
    }
}
