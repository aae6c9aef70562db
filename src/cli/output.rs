//! What the commands print: aligned tables with a header for people, one JSON object per line for scripts.

use std::io::Write;

use clap::Args;
use serde::Serialize;

/// `println!` for command output. When the reader has gone (`rtk-sessions config check | head`), the command ends
/// quietly with status 0, as Unix tools do, instead of panicking on the broken pipe.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::output::write_line(format_args!($($arg)*))
    };
}
pub(crate) use out;

pub(crate) fn write_line(line: std::fmt::Arguments<'_>) {
    if let Err(error) = writeln!(std::io::stdout().lock(), "{line}") {
        if error.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("rtk-sessions: cannot write the output: {error}");
        std::process::exit(1);
    }
}

/// Rows under a header, each column as wide as its widest cell; the last column is not padded.
pub(super) struct Table {
    header: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&'static str]) -> Self {
        Self {
            header: header.to_vec(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The table, or `empty` (such as "no sessions") when it has no rows.
    pub fn print(&self, empty: &str) {
        if self.rows.is_empty() {
            out!("{empty}");
            return;
        }
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.len()).collect();
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let line = |cells: Vec<&str>| {
            let last = cells.len().saturating_sub(1);
            let padded: Vec<String> = cells
                .iter()
                .enumerate()
                .map(|(i, cell)| {
                    if i == last {
                        cell.to_string()
                    } else {
                        format!("{cell:<width$}", width = widths[i])
                    }
                })
                .collect();
            out!("{}", padded.join("  ").trim_end());
        };
        line(self.header.clone());
        for row in &self.rows {
            line(row.iter().map(String::as_str).collect());
        }
    }
}

/// One JSON object per line.
pub(super) fn json_lines<T: Serialize>(items: &[T]) -> anyhow::Result<()> {
    for item in items {
        out!("{}", serde_json::to_string(item)?);
    }
    Ok(())
}

/// Where the next page starts, said after the page (on standard error, so that `--json` output stays JSON lines).
pub(super) fn next_page(cursor: Option<&str>) {
    if let Some(cursor) = cursor {
        eprintln!("more: repeat with --cursor {cursor}");
    }
}

/// An optional value in a table cell.
pub(super) fn or_dash(value: Option<&str>) -> String {
    value.unwrap_or("-").to_owned()
}

pub(super) fn instant(at: chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// How a list is printed and which page.
#[derive(Debug, Args)]
pub struct ListOptions {
    /// Page size, 1 to 500 [default: 50]
    #[arg(long)]
    pub limit: Option<String>,
    /// Where to start: the cursor printed after the previous page
    #[arg(long)]
    pub cursor: Option<String>,
    /// One JSON object per line (the API's objects) instead of a table
    #[arg(long)]
    pub json: bool,
}

/// A record's fields, a line each.
pub(super) fn fields(record: &impl Serialize) -> anyhow::Result<()> {
    let value = serde_json::to_value(record)?;
    for (key, value) in value.as_object().into_iter().flatten() {
        let text = value.as_str().map_or_else(|| value.to_string(), str::to_owned);
        out!("{key:<19} {text}");
    }
    Ok(())
}

/// An API error as the command's user reads it: a message that opens with one of the command's `parameters`
/// (`has_recording must be true or false`) names the flag typed instead (`--has-recording must be true or false`).
/// `app_id` is `--app`, as in every command.
pub(super) fn in_flags(error: crate::http::error::ApiError, parameters: &[&str]) -> anyhow::Error {
    let message = error.to_string();
    let Some(parameter) = parameters.iter().find(|p| {
        message
            .strip_prefix(**p)
            .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with(':'))
    }) else {
        return error.into();
    };
    let flag = match *parameter {
        "app_id" => "--app".to_owned(),
        other => format!("--{}", other.replace('_', "-")),
    };
    anyhow::anyhow!("{flag}{}", &message[parameter.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::error::ApiError;

    #[test]
    fn api_parameters_read_as_the_flags_typed() {
        let error = |message: &str| ApiError::bad_request("invalid_parameter", message.to_owned());
        let parameters = ["has_recording", "app_id", "limit"];
        let said = |message: &str| in_flags(error(message), &parameters).to_string();
        assert_eq!(
            said("has_recording must be true or false"),
            "--has-recording must be true or false"
        );
        assert_eq!(said("app_id: not configured"), "--app: not configured");
        assert_eq!(said("limit must be a whole number"), "--limit must be a whole number");
        assert_eq!(said("limits are reached"), "limits are reached");
        assert_eq!(said("the database is unavailable"), "the database is unavailable");
    }
}
