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

impl ConfigFile {
    /// The file read: `config.toml` in the working directory, or the one named.
    fn path(&self) -> &Path {
        match self {
            Self::Default => Path::new("config.toml"),
            Self::Named(path) => path,
        }
    }

    /// Which file is read, in words, for `serve`'s log and `config check`: the path, or that there is none.
    pub fn described(&self) -> String {
        match self {
            Self::Named(path) => format!("configuration file {}", path.display()),
            Self::Default if self.path().is_file() => {
                let folder = std::env::current_dir()
                    .map(|d| d.display().to_string())
                    .unwrap_or_default();
                format!("configuration file config.toml in {folder}")
            }
            Self::Default => "no config.toml in the working directory: defaults and the environment only".to_owned(),
        }
    }
}

impl Settings {
    /// Loads defaults, then the file, then the process environment, and validates the result.
    pub fn load(file: &ConfigFile) -> anyhow::Result<Self> {
        Self::load_with_env(file, std::env::vars())
    }

    /// As [`Settings::load`], with the environment given explicitly (tests use this).
    pub fn load_with_env(file: &ConfigFile, env: impl IntoIterator<Item = (String, String)>) -> anyhow::Result<Self> {
        Ok(Self::load_explained(file, env)?.0)
    }

    /// As [`Settings::load_with_env`], and where each key's value came from (for `config check`).
    pub fn load_explained(
        file: &ConfigFile,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> anyhow::Result<(Self, Sources)> {
        let path = file.path();
        if matches!(file, ConfigFile::Named(_)) && !path.is_file() {
            bail!("configuration file {} does not exist", path.display());
        }
        // `file_exact`: the file named, in the working directory when relative. `Toml::file` would look for it in
        // every parent folder too, and act on whatever database a config.toml higher up names.
        let mut layers = Figment::from(Toml::string(DEFAULTS));
        if path.is_file() {
            layers = layers.merge(Toml::file_exact(path));
        }
        // `realtimekit.apps.N.KEY` sets a key of an entry of a list, which figment would read as a table that
        // replaces the list: those are applied to the loaded entries instead.
        let (app_variables, variables): (Vec<Variable>, Vec<Variable>) =
            variables(env).into_iter().partition(|v| v.key.starts_with(APPS_KEY));
        let figment = variables.into_iter().fold(layers, Figment::merge);
        let mut settings: Settings = figment
            .extract_lossy()
            .map_err(|error| anyhow::anyhow!("invalid configuration: {}", describe(error)))?;
        let app_sources = apply_app_variables(&mut settings.realtimekit.apps, app_variables)
            .map_err(|why| anyhow::anyhow!("invalid configuration: {why}"))?;
        settings
            .validate()
            .map_err(|(key, why)| anyhow::anyhow!("invalid configuration: {key}: {why}"))?;
        resolve_from_the_file(
            &figment,
            "realtimekit.public_key_file",
            &mut settings.realtimekit.public_key_file,
        );
        Ok((settings, Sources(figment, app_sources)))
    }
}

const APPS_KEY: &str = "realtimekit.apps.";

/// Applies `RTK_SESSIONS__REALTIMEKIT__APPS__N__KEY` to entry N (from 0) of `[[realtimekit.apps]]`; N may be one
/// past the last entry, which adds one. Returns the variables' names.
fn apply_app_variables(
    apps: &mut Vec<super::AppSettings>,
    mut variables: Vec<Variable>,
) -> Result<Vec<String>, String> {
    // Entry by entry, so that N+1 can follow the N it adds.
    variables.sort_by_key(|v| {
        let rest = &v.key[APPS_KEY.len()..];
        rest.split('.')
            .next()
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or(usize::MAX)
    });
    let mut names = Vec::new();
    for variable in variables {
        let rest = &variable.key[APPS_KEY.len()..];
        let (index, field) = rest.split_once('.').unwrap_or((rest, ""));
        let index: usize = index
            .parse()
            .map_err(|_| format!("{}: the part after APPS__ is the entry's number, from 0", variable.name))?;
        if index > apps.len() {
            return Err(format!(
                "{}: there is no entry {index} (entries are numbered from 0, without gaps)",
                variable.name
            ));
        }
        if index == apps.len() {
            apps.push(super::AppSettings::default());
        }
        let entry = &mut apps[index];
        let value = variable.value.trim().to_owned();
        match field {
            "app_id" => entry.app_id = value,
            "name" => entry.name = Some(value).filter(|v| !v.is_empty()),
            "account_id" => entry.account_id = value,
            "api_token" => entry.api_token = crate::domain::Secret::new(value),
            _ => {
                return Err(format!(
                    "{}: no such key (an app entry has app_id, name, account_id, api_token)",
                    variable.name
                ));
            }
        }
        names.push(variable.name);
    }
    Ok(names)
}

/// Where the loaded values came from.
pub struct Sources(Figment, Vec<String>);

impl Sources {
    /// `default`, the file's path, or the environment variable's name, for a key such as `server.bind`.
    pub fn of(&self, key: &str) -> String {
        if key == "realtimekit.apps" && !self.1.is_empty() {
            let file = self.of_figment(key);
            let variables = self.1.join(", ");
            return if file == "default" {
                variables
            } else {
                format!("{file}, {variables}")
            };
        }
        self.of_figment(key)
    }

    fn of_figment(&self, key: &str) -> String {
        let Some(metadata) = self.0.find_metadata(key) else {
            return "default".to_owned();
        };
        match &metadata.source {
            Some(figment::Source::File(path)) => path.display().to_string(),
            _ if metadata.name.starts_with(ENV_PREFIX) || ALIASES.iter().any(|(n, _)| metadata.name == *n) => {
                metadata.name.to_string()
            }
            _ => "default".to_owned(),
        }
    }
}

/// A relative path set in the configuration file is relative to the file's folder, not to where the command runs.
fn resolve_from_the_file(figment: &Figment, key: &str, path: &mut String) {
    if path.is_empty() || Path::new(path.as_str()).is_absolute() {
        return;
    }
    let file = figment.find_metadata(key).and_then(|metadata| match &metadata.source {
        Some(figment::Source::File(file)) => file.parent().map(Path::to_path_buf),
        _ => None,
    });
    if let Some(folder) = file {
        *path = folder.join(path.as_str()).display().to_string();
    }
}

/// The variables that set keys, in the order they are merged: the conventional names first, so that the prefixed
/// form wins over them.
fn variables(vars: impl IntoIterator<Item = (String, String)>) -> Vec<Variable> {
    let vars: Vec<(String, String)> = vars.into_iter().collect();
    let aliased = ALIASES.iter().filter_map(|(name, key)| {
        let (_, value) = vars.iter().find(|(var, value)| var == name && !value.is_empty())?;
        Some(Variable::new(name, key.to_string(), value))
    });
    let prefixed = vars.iter().filter_map(|(name, value)| {
        let key = name.strip_prefix(ENV_PREFIX)?.to_lowercase().replace("__", ".");
        Some(Variable::new(name, key, value))
    });
    aliased.chain(prefixed).collect()
}

/// One environment variable as a figment provider, so that an error about its value names it. The value stays
/// text: figment's own `Env` provider would read a token such as `0042` as the number 42, and `extract_lossy`
/// already turns text into a number or a boolean where a key wants one.
struct Variable {
    name: String,
    key: String,
    value: String,
}

impl Variable {
    fn new(name: &str, key: String, value: &str) -> Self {
        let (name, value) = (name.to_owned(), value.to_owned());
        Self { name, key, value }
    }
}

impl figment::Provider for Variable {
    fn metadata(&self) -> figment::Metadata {
        figment::Metadata::named(self.name.clone())
    }

    fn data(&self) -> Result<figment::value::Map<figment::Profile, Dict>, figment::Error> {
        let nested = match figment::util::nest(&self.key, Value::from(self.value.clone())) {
            Value::Dict(_, dict) => dict,
            _ => Dict::new(),
        };
        Ok(figment::Profile::Default.collect(nested))
    }
}

/// Each problem once: the key, what is wrong, and where the value came from (the file, or the variable).
fn describe(error: figment::Error) -> String {
    let describe_one = |e: figment::Error| {
        let key = e.path.join(".");
        let what = match &e.kind {
            // figment's own text nests backticks ("expected `one of `a`, `b``").
            figment::error::Kind::UnknownField(_, known) => {
                format!("no such key (the keys here: {})", known.join(", "))
            }
            figment::error::Kind::UnknownVariant(value, known) => {
                format!("{value:?} is not one of {}", known.join(", "))
            }
            other => other.to_string(),
        };
        let text = if key.is_empty() { what } else { format!("{key}: {what}") };
        match e.metadata.as_ref().map(|m| (&m.source, &m.name)) {
            Some((Some(source), _)) => format!("{text} (from {source})"),
            Some((None, name)) => format!("{text} (from {name})"),
            None => text,
        }
    };
    error.into_iter().map(describe_one).collect::<Vec<_>>().join("; ")
}
