//! The kinds of value a key holds, as serde sees them: durations in whole seconds, "empty means none", and
//! lists that an environment variable writes as one string. Each refuses what it cannot use, so the message names
//! the key and where its value came from.

use std::collections::BTreeMap;
use std::fmt;
use std::num::NonZeroU64;
use std::str::FromStr;
use std::time::Duration;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serializer};

use crate::domain::access::{MIN_TOKEN_CHARS, check_token_name};
use crate::domain::{ApiToken, Scope};

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
/// An archive location: a URL (`file:///folder`, `s3://bucket/prefix`...), or a folder path (`archive`,
/// `/srv/archive`), a relative one taken from the working directory; empty: none.
pub(super) mod archive_location {
    use super::*;

    pub use super::empty_is_none::serialize;

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<url::Url>, D::Error> {
        let text = String::deserialize(deserializer)?;
        let text = text.trim();
        if text.is_empty() {
            return Ok(None);
        }
        match url::Url::parse(text) {
            Ok(url) => Ok(Some(url)),
            Err(url::ParseError::RelativeUrlWithoutBase) => {
                let folder = std::path::Path::new(text);
                let folder = if folder.is_absolute() {
                    folder.to_path_buf()
                } else {
                    std::env::current_dir()
                        .map_err(|error| D::Error::custom(format!("{text:?}: the working directory: {error}")))?
                        .join(folder)
                };
                url::Url::from_directory_path(&folder)
                    .map(Some)
                    .map_err(|()| D::Error::custom(format!("{text:?} is not a folder path")))
            }
            Err(error) => Err(D::Error::custom(format!("{text:?}: {error}"))),
        }
    }
}

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

/// `api.tokens`: `[[api.tokens]]` tables (`name`, `scope`, and `sha256` or `token`), plain strings (`operate`
/// tokens named by their place, `token-1`, ...), or one comma-separated string as an environment variable gives it.
/// Names must be unique: they are what logs and the console show.
pub(super) fn api_tokens<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<ApiToken>, D::Error> {
    #[derive(Deserialize)]
    #[serde(
        untagged,
        expecting = "expected a list of tokens: strings, or tables with name, scope and sha256 or token"
    )]
    enum Entry {
        Plain(String),
        Table(BTreeMap<String, String>),
    }
    #[derive(Deserialize)]
    #[serde(
        untagged,
        expecting = "expected a list of tokens: strings, or tables with name, scope and sha256 or token"
    )]
    enum ListOrCsv {
        List(Vec<Entry>),
        Csv(String),
    }
    let entries = match ListOrCsv::deserialize(deserializer)? {
        ListOrCsv::List(list) => list,
        ListOrCsv::Csv(csv) => {
            // A list of tables written into one variable would otherwise be read as tokens cut at its commas.
            if csv.contains('{') {
                return Err(D::Error::custom(
                    "named tokens (name, scope, sha256) are set in the configuration file; the environment takes \
                     plain tokens only, comma-separated",
                ));
            }
            split_csv(&csv).into_iter().map(Entry::Plain).collect()
        }
    };
    let mut tokens: Vec<ApiToken> = Vec::with_capacity(entries.len());
    for (index, entry) in entries.into_iter().enumerate() {
        let token = match entry {
            Entry::Plain(value) if value.trim().is_empty() => continue,
            Entry::Plain(value) if value.trim().chars().count() < MIN_TOKEN_CHARS => {
                return Err(D::Error::custom(too_short(&format!("token {}", index + 1))));
            }
            Entry::Plain(value) => ApiToken::from_value(format!("token-{}", index + 1), Scope::Operate, value.trim()),
            Entry::Table(table) => {
                token_entry(table).map_err(|e| D::Error::custom(format!("entry {}: {e}", index + 1)))?
            }
        };
        if tokens.iter().any(|t| t.name == token.name) {
            return Err(D::Error::custom(format!(
                "two tokens are named {:?}; names must be unique",
                token.name
            )));
        }
        tokens.push(token);
    }
    Ok(tokens)
}

fn token_entry(mut table: BTreeMap<String, String>) -> Result<ApiToken, String> {
    let name = table
        .remove("name")
        .map(|n| n.trim().to_owned())
        .ok_or_else(|| "name is required".to_owned())?;
    check_token_name(&name).map_err(|e| format!("name {name:?}: {e}"))?;
    let scope = table
        .remove("scope")
        .ok_or_else(|| format!("token {name:?}: scope is required (read or operate)"))
        .and_then(|scope| Scope::parse(scope.trim()).map_err(|e| format!("token {name:?}: {e}")))?;
    let token = match (table.remove("sha256"), table.remove("token")) {
        (Some(digest), None) => {
            ApiToken::from_sha256_hex(&name, scope, &digest).map_err(|e| format!("token {name:?}: {e}"))?
        }
        (None, Some(value)) if value.trim().chars().count() < MIN_TOKEN_CHARS => {
            return Err(too_short(&format!("token {name:?}")));
        }
        (None, Some(value)) => ApiToken::from_value(&name, scope, value.trim()),
        _ => {
            return Err(format!(
                "token {name:?}: give exactly one of sha256 (preferred) or token"
            ));
        }
    };
    if let Some(unknown) = table.keys().next() {
        return Err(format!(
            "token {name:?}: unknown key {unknown:?} (name, scope, sha256, token)"
        ));
    }
    Ok(token)
}

/// What is wrong with a short token, without repeating it.
fn too_short(which: &str) -> String {
    format!(
        "{which} is shorter than {MIN_TOKEN_CHARS} characters, which a stranger could guess; \
         `rtk-sessions tokens new` makes a random one"
    )
}

fn split_csv(csv: &str) -> Vec<String> {
    csv.trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .split(',')
        .map(|item| item.trim().trim_matches('"').to_owned())
        .collect()
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
        ListOrCsv::Csv(csv) => split_csv(&csv),
    };
    Ok(items
        .into_iter()
        .map(|item| item.trim().to_owned())
        .filter(|item| !item.is_empty())
        .collect())
}
