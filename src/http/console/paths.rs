//! The console's addresses, and the links every page builds to its records.

use crate::realtimekit::client::path_segment;

pub const ROOT: &str = "/console";
pub const PREFIX: &str = "/console/";
pub const SIGN_IN: &str = "/console/sign-in";
pub const SIGN_OUT: &str = "/console/sign-out";
pub const SIGN_OUT_EVERYWHERE: &str = "/console/sign-out-everywhere";
pub const ASSETS: &str = "/console/assets";
pub const FAVICON: &str = "/console/assets/favicon.svg";
/// What browsers ask for by themselves: the root and the icon, both sent to the console.
pub const BROWSER_ENTRIES: [&str; 2] = ["/", "/favicon.ico"];

/// `text` as one value of a query string.
pub fn query_value(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// A list page with its filters (those left empty are left out).
pub fn list_href(base: &str, filters: &[(&str, String)]) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(filters.iter().filter(|(_, value)| !value.is_empty()))
        .finish();
    if query.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{query}")
    }
}

/// The console page of a session.
pub fn session_href(session_id: &str) -> String {
    format!("{ROOT}/sessions/{}", path_segment(session_id))
}

/// The console page of a delivery.
pub fn delivery_href(delivery_id: &str) -> String {
    format!("{ROOT}/deliveries/{}", path_segment(delivery_id))
}
