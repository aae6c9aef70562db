//! `[log]`: how the service writes its log, and the check of a `tracing` filter.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Pretty,
    Json,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub format: LogFormat,
    /// A `tracing` filter such as `info` or `rtk_sessions=debug,info`; `RUST_LOG` wins when set.
    pub level: String,
}

/// A `tracing` filter whose every directive sets a level: `info`, or `target=level`, comma-separated. A bare word
/// is a target with no level, which would silence everything else, warnings included.
pub(super) fn check_log_filter(filter: &str) -> Result<(), String> {
    const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];
    for directive in filter.split(',').map(str::trim) {
        let (target, level) = directive.rsplit_once('=').unwrap_or(("", directive));
        let target_ok = !directive.contains('=') || !(target.is_empty() || target.contains(char::is_whitespace));
        if !target_ok || !LEVELS.contains(&level.trim().to_ascii_lowercase().as_str()) {
            return Err(format!(
                "{directive:?} sets no level: write a level ({}) or target=level, comma-separated",
                LEVELS.join(", ")
            ));
        }
    }
    Ok(())
}
