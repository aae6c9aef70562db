//! A list's pages, forwards and back. Lists are read by keyset (a cursor says where the next page starts), which
//! has no cheap way back; so each link carries the trail of cursors that led to its page (the latest
//! [`TRAIL_MAX`]): "Previous" is the last of them, "First" drops them all. The filters stay in every link.

use axum::extract::Query;
use axum::extract::rejection::QueryRejection;
use axum::http::Uri;
use maud::{Markup, html};
use serde::de::DeserializeOwned;

/// The most cursors a link carries back (a link stays under 2 KiB); past them, "First" still leads home.
pub const TRAIL_MAX: usize = 20;

/// The query parameter that carries the trail (repeated; an empty one is the first page).
const TRAIL: &str = "trail";

/// A list page's query: the list's own parameters, and the trail kept apart from them.
pub struct Paged<T> {
    pub params: T,
    pub trail: Vec<String>,
}

impl<T: DeserializeOwned> Paged<T> {
    /// Splits the trail off the raw query and reads the rest as the list's parameters (which refuse unknown ones).
    pub fn from_query(raw: Option<&str>) -> Result<Self, QueryRejection> {
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(raw.unwrap_or("").as_bytes())
            .map(|(name, value)| (name.into_owned(), value.into_owned()))
            .collect();
        let (trail, rest): (Vec<_>, Vec<_>) = pairs.into_iter().partition(|(name, _)| name == TRAIL);
        let rest = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(rest)
            .finish();
        let uri: Uri = format!("/?{rest}").parse().unwrap_or_else(|_| Uri::from_static("/"));
        let Query(params) = Query::try_from_uri(&uri)?;
        let mut trail: Vec<String> = trail.into_iter().map(|(_, cursor)| cursor).collect();
        trail.drain(..trail.len().saturating_sub(TRAIL_MAX));
        Ok(Self { params, trail })
    }
}

/// First, Previous and Next for a page read at `cursor` (none: the first page), whose next page starts at `next`.
pub fn links(
    base: &str,
    kept: &[(&str, String)],
    cursor: Option<&str>,
    trail: &[String],
    next: Option<&str>,
) -> Markup {
    let href = |cursor: Option<&str>, trail: &[String]| {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in kept.iter().filter(|(_, value)| !value.is_empty()) {
            query.append_pair(name, value);
        }
        if let Some(cursor) = cursor.filter(|c| !c.is_empty()) {
            query.append_pair("cursor", cursor);
        }
        for step in trail {
            query.append_pair(TRAIL, step);
        }
        let query = query.finish();
        if query.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{query}")
        }
    };
    let cursor = cursor.filter(|c| !c.is_empty());
    let back = trail.split_last();
    let forward_trail = || {
        let mut forward = trail.to_vec();
        forward.push(cursor.unwrap_or("").to_owned());
        let skip = forward.len().saturating_sub(TRAIL_MAX);
        forward.split_off(skip)
    };
    html! {
        @if cursor.is_some() || next.is_some() {
            nav.pager aria-label="Pages" {
                @if cursor.is_some() {
                    a href=(href(None, &[])) { "« First" }
                    @if let Some((previous, earlier)) = back {
                        a href=(href(Some(previous), earlier)) rel="prev" { "‹ Previous" }
                    }
                }
                @if let Some(next) = next {
                    a href=(href(Some(next), &forward_trail())) rel="next" { "Next ›" }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Params {
        outcome: Option<String>,
        cursor: Option<String>,
    }

    #[test]
    fn the_trail_is_kept_apart_from_the_list_parameters_and_leads_back() {
        let paged = Paged::<Params>::from_query(Some("outcome=stored&cursor=c2&trail=&trail=c1")).expect("a query");
        assert_eq!(paged.params.outcome.as_deref(), Some("stored"));
        assert_eq!(paged.params.cursor.as_deref(), Some("c2"));
        assert_eq!(paged.trail, ["", "c1"]);
        assert!(
            Paged::<Params>::from_query(Some("nonsense=1")).is_err(),
            "unknown parameters are still refused"
        );

        let kept = [("outcome", "stored".to_owned())];
        let html = links("/console/deliveries", &kept, Some("c2"), &paged.trail, Some("c3")).into_string();
        assert!(
            html.contains(r#"href="/console/deliveries?outcome=stored">« First"#),
            "{html}"
        );
        assert!(
            html.contains(r#"href="/console/deliveries?outcome=stored&amp;cursor=c1&amp;trail=" rel="prev""#),
            "{html}"
        );
        assert!(
            html.contains(r#"href="/console/deliveries?outcome=stored&amp;cursor=c3&amp;trail=&amp;trail=c1&amp;trail=c2" rel="next""#),
            "{html}"
        );
        let first = links("/console/deliveries", &kept, None, &[], Some("c1")).into_string();
        assert!(
            !first.contains("First") && first.contains("cursor=c1&amp;trail=\""),
            "{first}"
        );
        let long: Vec<String> = (0..40).map(|i| format!("c{i}")).collect();
        let query: String = long.iter().map(|c| format!("&trail={c}")).collect();
        assert_eq!(
            Paged::<Params>::from_query(Some(&query)).expect("a query").trail.len(),
            TRAIL_MAX
        );
    }
}
