//! Quantities as people read them: durations, sizes and how long ago something happened. The console and the
//! command line say them the same way.

use chrono::{DateTime, Utc};

/// `45 s`, `12 min 5 s`, `3 h 20 min`, `2 d 4 h`.
pub fn duration(secs: f64) -> String {
    if !secs.is_finite() {
        return "–".to_owned();
    }
    let sign = if secs < 0.0 { "-" } else { "" };
    let secs = secs.abs().round() as u64;
    let (d, h, m, s) = (secs / 86_400, secs % 86_400 / 3_600, secs % 3_600 / 60, secs % 60);
    let text = match (d, h, m) {
        (0, 0, 0) => format!("{s} s"),
        (0, 0, _) if s == 0 => format!("{m} min"),
        (0, 0, _) => format!("{m} min {s} s"),
        (0, _, _) => format!("{h} h {m} min"),
        _ => format!("{d} d {h} h"),
    };
    format!("{sign}{text}")
}

/// `512 B`, `1.5 KiB`, `12.0 MiB`, `3.21 GiB`.
pub fn size(bytes: i64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value.abs() >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    match unit {
        0 => format!("{bytes} B"),
        _ if value < 10.0 => format!("{value:.2} {}", UNITS[unit]),
        _ => format!("{value:.1} {}", UNITS[unit]),
    }
}

/// How long ago `at` was, seen at `now`: `just now`, `45 s ago`, `3 min ago`, `2 h 5 min ago`, `in 3 d 2 h` for a
/// time still to come.
pub fn ago(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (now - at).num_milliseconds() as f64 / 1000.0;
    match secs {
        s if s.abs() < 1.0 => "just now".to_owned(),
        s if s > 0.0 => format!("{} ago", duration(s.round().max(1.0))),
        s => format!("in {}", duration(-s)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_sizes_read_as_people_say_them() {
        assert_eq!(duration(45.0), "45 s");
        assert_eq!(duration(725.0), "12 min 5 s");
        assert_eq!(duration(600.0), "10 min");
        assert_eq!(duration(12_000.0), "3 h 20 min");
        assert_eq!(duration(187_200.0), "2 d 4 h");
        assert_eq!(duration(-90.0), "-1 min 30 s");
        assert_eq!(size(512), "512 B");
        assert_eq!(size(1536), "1.50 KiB");
        assert_eq!(size(12 * 1024 * 1024), "12.0 MiB");
    }

    #[test]
    fn times_read_as_how_long_ago() {
        let now = DateTime::parse_from_rfc3339("2026-12-05T10:00:00Z")
            .expect("a time")
            .with_timezone(&Utc);
        let at = |secs: i64| now - chrono::Duration::seconds(secs);
        assert_eq!(ago(now, now), "just now");
        assert_eq!(ago(at(45), now), "45 s ago");
        assert_eq!(ago(at(180), now), "3 min ago");
        assert_eq!(ago(at(7_500), now), "2 h 5 min ago");
        assert_eq!(ago(at(-266_400), now), "in 3 d 2 h");
    }
}
