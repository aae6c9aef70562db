//! Lenient readers for RealtimeKit payload fields: ids that arrive as numbers, timestamps with a space instead of
//! `T` or without an offset, and text that Postgres could not store.

use chrono::{DateTime, DurationRound, NaiveDateTime, TimeDelta, TimeZone, Utc};
use serde_json::Value;

/// A text field; numbers are accepted as their decimal text. NUL characters, which Postgres cannot store, are
/// dropped. Empty text counts as absent.
pub fn text(value: Option<&Value>) -> Option<String> {
    let text = match value? {
        // One allocation for the common case: every field of every delivery passes here.
        Value::String(s) if !s.contains('\0') => s.trim().to_owned(),
        Value::String(s) => s.replace('\0', "").trim().to_owned(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    (!text.is_empty()).then_some(text)
}

/// A whole number that may arrive as a JSON number (integral or not: rounded) or as its decimal text.
pub fn integer(value: Option<&Value>) -> Option<i64> {
    match value? {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.is_finite()).map(|f| f.round() as i64)),
        Value::String(s) => {
            let s = s.trim();
            s.parse::<i64>().ok().or_else(|| {
                s.parse::<f64>()
                    .ok()
                    .filter(|f| f.is_finite())
                    .map(|f| f.round() as i64)
            })
        }
        _ => None,
    }
}

/// A timestamp: RFC 3339, the legacy form with a space instead of `T`, a form without an offset (read as UTC), or
/// epoch milliseconds. Truncated to microseconds, the precision Postgres keeps, so values round-trip exactly.
pub fn timestamp(value: Option<&Value>) -> Option<DateTime<Utc>> {
    let parsed = match value? {
        Value::String(s) => parse_timestamp_text(s.trim()),
        Value::Number(n) => n.as_i64().and_then(|ms| Utc.timestamp_millis_opt(ms).single()),
        _ => None,
    }?;
    parsed.duration_trunc(TimeDelta::microseconds(1)).ok()
}

fn parse_timestamp_text(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    let with_t = text.replacen(' ', "T", 1);
    if let Ok(t) = DateTime::parse_from_rfc3339(&with_t) {
        return Some(t.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f%#z"] {
        if let Ok(t) = DateTime::parse_from_str(&with_t, format) {
            return Some(t.with_timezone(&Utc));
        }
        if let Ok(t) = NaiveDateTime::parse_from_str(&with_t, format) {
            return Some(t.and_utc());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn timestamps_in_every_tolerated_form_parse_to_the_same_instant() {
        let expected = Utc.with_ymd_and_hms(2026, 6, 3, 10, 30, 0).single().expect("valid");
        for form in [
            json!("2026-06-03T10:30:00.000Z"),
            json!("2026-06-03T10:30:00Z"),
            json!("2026-06-03 10:30:00.000Z"),
            json!("2026-06-03T12:30:00+02:00"),
            json!("2026-06-03 10:30:00"),
            json!("2026-06-03T10:30:00.000"),
            json!(1_780_482_600_000_i64),
        ] {
            assert_eq!(timestamp(Some(&form)), Some(expected), "{form}");
        }
        assert_eq!(timestamp(Some(&json!("yesterday"))), None);
        assert_eq!(timestamp(Some(&json!(null))), None);
        assert_eq!(timestamp(None), None);
    }

    #[test]
    fn timestamps_keep_microseconds_only() {
        let t = timestamp(Some(&json!("2026-06-03T10:30:00.123456789Z"))).expect("parses");
        assert_eq!(t.timestamp_subsec_nanos(), 123_456_000);
    }

    #[test]
    fn integers_arrive_as_numbers_or_text() {
        assert_eq!(integer(Some(&json!(2044680))), Some(2_044_680));
        assert_eq!(integer(Some(&json!("2044680"))), Some(2_044_680));
        assert_eq!(integer(Some(&json!(17.6))), Some(18));
        assert_eq!(integer(Some(&json!("many"))), None);
        assert_eq!(integer(None), None);
    }

    #[test]
    fn text_fields_accept_numbers_and_drop_nul() {
        assert_eq!(text(Some(&json!(42))), Some("42".into()));
        assert_eq!(text(Some(&json!("a\u{0}b"))), Some("ab".into()));
        assert_eq!(text(Some(&json!(""))), None);
        assert_eq!(text(Some(&json!({"x": 1}))), None);
    }
}
