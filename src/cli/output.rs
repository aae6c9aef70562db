//! What the commands print: aligned tables with a header for people, one JSON object per line for scripts.

use std::io::Write;

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
