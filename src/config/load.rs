//! Loading: figment providers in order (the defaults, the file, the environment), then the checks that span keys.
//! Errors name the key, what is wrong, and where the value came from (the file, or the variable).

use std::path::{Path, PathBuf};

use anyhow::bail;
use figment::Figment;
use figment::providers::{Format, Toml};
use figment::value::{Dict, Value};

use super::{DEFAULTS, Settings};

/// The prefix of the environment variables that override configuration keys.
pub const ENV_PREFIX: &str = "RTK_SESSIONS__";

/// Names of the conventional variables, and the keys they set.
const ALIASES: [(&str, &str); 2] = [
    ("DATABASE_URL", "database.url"),
    ("CLOUDFLARE_API_TOKEN", "realtimekit.api_token"),
];

/// Where the configuration file comes from.
#[derive(Clone, Debug)]
pub enum ConfigFile {
    /// `config.toml` in the working directory; fine when missing.
    Default,
    /// A file named on the command line; an error when missing.
    Named(PathBuf),
}

impl Settings {
    /// Loads defaults, then the file, then the process environment, and validates the result.
    pub fn load(file: &ConfigFile) -> anyhow::Result<Self> {
        Self::load_with_env(file, std::env::vars())
    }

    /// As [`Settings::load`], with the environment given explicitly (tests use this).
    pub fn load_with_env(file: &ConfigFile, env: impl IntoIterator<Item = (String, String)>) -> anyhow::Result<Self> {
        let path: &Path = match file {
            ConfigFile::Default => Path::new("config.toml"),
            ConfigFile::Named(path) if !path.is_file() => bail!("configuration file {} does not exist", path.display()),
            ConfigFile::Named(path) => path,
        };
        let settings: Settings = Figment::from(Toml::string(DEFAULTS))
            .merge(Toml::file(path))
            .merge(Environment::from_vars(env))
            .extract_lossy()
            .map_err(|error| anyhow::anyhow!("invalid configuration: {}", describe(error)))?;
        settings
            .validate()
            .map_err(|(key, why)| anyhow::anyhow!("invalid configuration: {key}: {why}"))?;
        Ok(settings)
    }
}

/// The environment as a figment provider: `RTK_SESSIONS__SECTION__KEY` for any key, and the conventional
/// `DATABASE_URL` and `CLOUDFLARE_API_TOKEN` (the prefixed form wins). Values stay text: figment's own `Env` provider
/// would read a token such as `0042` as the number 42, and `extract_lossy` already turns text into a number or a
/// boolean where a key wants one. Errors name the variable.
struct Environment {
    values: Dict,
}

impl Environment {
    fn from_vars(vars: impl IntoIterator<Item = (String, String)>) -> Self {
        let vars: Vec<(String, String)> = vars.into_iter().collect();
        let aliased = ALIASES.iter().filter_map(|(name, key)| {
            let (_, value) = vars.iter().find(|(var, value)| var == name && !value.is_empty())?;
            Some((key.to_string(), value))
        });
        let prefixed = vars.iter().filter_map(|(var, value)| {
            let key = var.strip_prefix(ENV_PREFIX)?;
            Some((key.to_lowercase().replace("__", "."), value))
        });
        let mut values = Dict::new();
        // Aliases first, so that the prefixed form overwrites them.
        for (key, value) in aliased.chain(prefixed) {
            insert(&mut values, &key, Value::from(value.clone()));
        }
        Self { values }
    }
}

/// Sets `a.b.c` in nested dictionaries.
fn insert(dict: &mut Dict, key: &str, value: Value) {
    let Some((head, rest)) = key.split_once('.') else {
        dict.insert(key.to_owned(), value);
        return;
    };
    let entry = dict.entry(head.to_owned()).or_insert_with(|| Value::from(Dict::new()));
    if !matches!(entry, Value::Dict(..)) {
        *entry = Value::from(Dict::new());
    }
    if let Value::Dict(_, inner) = entry {
        insert(inner, rest, value);
    }
}

impl figment::Provider for Environment {
    fn metadata(&self) -> figment::Metadata {
        figment::Metadata::named("the environment").interpolater(|_, keys| {
            let variable = format!("{ENV_PREFIX}{}", keys.join("__").to_uppercase());
            match ALIASES.iter().find(|(_, key)| key.split('.').eq(keys.iter().copied())) {
                Some((alias, _)) => format!("{variable} (or {alias})"),
                None => variable,
            }
        })
    }

    fn data(&self) -> Result<figment::value::Map<figment::Profile, Dict>, figment::Error> {
        Ok(figment::Profile::Default.collect(self.values.clone()))
    }
}

/// Each problem once: the key, what is wrong, and where the value came from (the file, or the variable).
fn describe(error: figment::Error) -> String {
    let describe_one = |e: figment::Error| {
        let key = e.path.join(".");
        let text = if key.is_empty() {
            e.kind.to_string()
        } else {
            format!("{key}: {}", e.kind)
        };
        let Some(metadata) = &e.metadata else { return text };
        let origin = match &metadata.source {
            Some(source) if metadata.name != "the environment" => source.to_string(),
            _ if !e.path.is_empty() => metadata.interpolate(&figment::Profile::Default, &e.path),
            _ => metadata.name.to_string(),
        };
        format!("{text} (from {origin})")
    };
    error.into_iter().map(describe_one).collect::<Vec<_>>().join("; ")
}
