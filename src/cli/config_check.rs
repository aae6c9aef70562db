//! `config check`: the configuration as the service would read it, checked, with every key's value (secrets
//! redacted) and where it came from. Nothing is started and nothing is connected to.

use std::process::ExitCode;

use super::output::{Table, out};
use crate::config::{ConfigFile, Settings};
use crate::followups::Registry;

pub fn run(file: &ConfigFile) -> anyhow::Result<ExitCode> {
    let (settings, origins) = Settings::load_explained(file, std::env::vars())?;
    // The follow-ups' own options are checked where they are built, as `serve` would.
    Registry::from_settings(&settings).map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
    let mut table = Table::new(&["KEY", "VALUE", "FROM"]);
    for origin in origins {
        table.row(vec![origin.key, origin.value, origin.from]);
    }
    table.print("");
    out!("");
    out!("the configuration is valid");
    Ok(ExitCode::SUCCESS)
}
