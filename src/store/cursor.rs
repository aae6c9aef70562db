//! The keyset position after the last row of a page: a time and an id, the order every listing is kept in (newest
//! first, the id as the tie-break). Opaque to clients: base64url of `v1:<microseconds>:<id>`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Datelike, Utc};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    at_micros: i64,
    id: String,
}

impl Cursor {
    pub fn after(at: DateTime<Utc>, id: &str) -> Self {
        Self {
            at_micros: at.timestamp_micros(),
            id: id.to_owned(),
        }
    }

    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("v1:{}:{}", self.at_micros, self.id))
    }

    /// `None` for anything this API did not hand out: garbage, a time Postgres cannot hold, an id with NUL.
    pub fn decode(text: &str) -> Option<Self> {
        let bytes = URL_SAFE_NO_PAD.decode(text.trim()).ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let rest = text.strip_prefix("v1:")?;
        let (micros, id) = rest.split_once(':')?;
        let at_micros = micros.parse().ok()?;
        let at = DateTime::from_timestamp_micros(at_micros)?;
        if !(1..=9999).contains(&at.year()) || id.contains('\0') {
            return None;
        }
        Some(Self {
            at_micros,
            id: id.to_owned(),
        })
    }

    pub fn at(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_micros(self.at_micros).unwrap_or_default()
    }

    pub fn id(&self) -> &str {
        &self.id
    }
}

/// The position after the last job of a page of follow-up jobs (listed by id, newest first). Opaque like
/// [`Cursor`]: base64url of `j1:<id>`, and only the exact text this API hands out decodes.
pub struct JobCursor;

impl JobCursor {
    pub fn encode(id: i64) -> String {
        URL_SAFE_NO_PAD.encode(format!("j1:{id}"))
    }

    /// The job id, for a cursor this API handed out; `None` for anything else (a bare number, a negative id).
    pub fn decode(text: &str) -> Option<i64> {
        let bytes = URL_SAFE_NO_PAD.decode(text.trim()).ok()?;
        let id: i64 = String::from_utf8(bytes).ok()?.strip_prefix("j1:")?.parse().ok()?;
        (id > 0 && Self::encode(id) == text.trim()).then_some(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_and_garbage_is_refused() {
        let cursor = Cursor {
            at_micros: 1_780_482_600_123_456,
            id: "a:b:c".into(),
        };
        assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor));
        for garbage in [
            "",
            "!!!",
            "djE6",
            &URL_SAFE_NO_PAD.encode("v2:1:x"),
            &URL_SAFE_NO_PAD.encode("v1:x:y"),
            &URL_SAFE_NO_PAD.encode(format!("v1:{}:y", i64::MAX)),
            &URL_SAFE_NO_PAD.encode(format!("v1:{}:y", -8_210_298_412_800_000_000_i64)),
            &URL_SAFE_NO_PAD.encode("v1:0:a\0b"),
        ] {
            assert_eq!(Cursor::decode(garbage), None, "{garbage}");
        }
    }
}
