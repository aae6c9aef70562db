//! The kinds of value a key holds, as serde sees them: durations in whole seconds, "empty means none", and
//! lists that an environment variable writes as one string. Each refuses what it cannot use, so the message names
//! the key and where its value came from.

use std::fmt;
use std::num::NonZeroU64;
use std::str::FromStr;
use std::time::Duration;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serializer};

use crate::domain::Secret;

/// A `*_secs` key: whole seconds, 0 allowed.
pub(super) mod secs {
    use super::*;

    pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(value.as_secs())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        u64::deserialize(deserializer).map(Duration::from_secs)
    }
}

/// A `*_secs` key that must be greater than 0.
pub(super) mod positive_secs {
    use super::*;

    pub use super::secs::serialize;

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        let secs = u64::deserialize(deserializer)?;
        NonZeroU64::new(secs)
            .map(|secs| Duration::from_secs(secs.get()))
            .ok_or_else(|| D::Error::custom("must be greater than 0"))
    }
}

/// A key where `""` means "not set" and anything else must parse as `T` (an address, a URL).
pub(super) mod empty_is_none {
    use super::*;

    pub fn serialize<T: fmt::Display, S: Serializer>(value: &Option<T>, serializer: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(value) => serializer.collect_str(value),
            None => serializer.serialize_str(""),
        }
    }

    pub fn deserialize<'de, T, D>(deserializer: D) -> Result<Option<T>, D::Error>
    where
        T: FromStr<Err: fmt::Display>,
        D: Deserializer<'de>,
    {
        let text = String::deserialize(deserializer)?;
        let text = text.trim();
        if text.is_empty() {
            return Ok(None);
        }
        text.parse()
            .map(Some)
            .map_err(|error| D::Error::custom(format!("{text:?}: {error}")))
    }
}

pub(super) fn tokens_from_list_or_csv<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Secret>, D::Error> {
    Ok(strings_from_list_or_csv(deserializer)?
        .into_iter()
        .map(Secret::new)
        .collect())
}

/// A list of strings from a TOML array, or from one string as an environment variable gives it: `a,b`, `[a, b]` or
/// `["a", "b"]`. Blank items are dropped.
pub(super) fn strings_from_list_or_csv<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged, expecting = "expected a list of strings, or one comma-separated string")]
    enum ListOrCsv {
        List(Vec<String>),
        Csv(String),
    }
    let items = match ListOrCsv::deserialize(deserializer)? {
        ListOrCsv::List(list) => list,
        ListOrCsv::Csv(csv) => csv
            .trim()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .split(',')
            .map(|item| item.trim().trim_matches('"').to_owned())
            .collect(),
    };
    Ok(items
        .into_iter()
        .map(|item| item.trim().to_owned())
        .filter(|item| !item.is_empty())
        .collect())
}
