//! How long the texts of a delivery may be, and which ids can become path segments: the bounds every reader of a
//! payload applies, so that the database never refuses a row for its size.

/// Ids, the end reason, statuses, file names and the event name: at most this many bytes. They are indexed (or
/// matched against indexed values), and no RealtimeKit id comes near it; a longer one makes the delivery
/// `unprocessable`.
pub const MAX_ID_BYTES: usize = 256;
/// Titles, room names, display names and organization names: at most this many bytes, else the delivery is
/// `unprocessable`.
pub const MAX_TEXT_BYTES: usize = 4096;
/// A download or playback URL is pre-signed and can be long, but not this long.
pub const MAX_URL_BYTES: usize = 8192;

/// The first of `values` longer than its bound, as the reason a delivery is unusable.
pub fn check_lengths(values: &[(&str, Option<&str>, usize)]) -> Result<(), String> {
    match values
        .iter()
        .find(|(_, value, max)| value.is_some_and(|v| v.len() > *max))
    {
        Some((name, _, max)) => Err(format!("{name} is longer than {max} bytes")),
        None => Ok(()),
    }
}

/// Ids that become path segments of Cloudflare calls and of our own URLs: `.` and `..` would leave their segment,
/// and no RealtimeKit id is one.
pub fn check_path_ids(ids: &[(&str, &str)]) -> Result<(), String> {
    match ids.iter().find(|(_, id)| matches!(*id, "." | "..")) {
        Some((name, id)) => Err(format!("{name} is {id:?}, which is not an id")),
        None => Ok(()),
    }
}

/// An id as one path segment of a URL: every byte but letters, digits and `-._~` percent-encoded, so that `/`,
/// `?`, `#` and `%` in an id never change the path. (`.` and `..` are refused apart: see [`check_path_ids`].)
pub fn path_segment(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for byte in id.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}
