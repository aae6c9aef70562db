//! README's offline trial, run as written: every line it shows a command printing is what the binary prints, so
//! the first thing a newcomer types cannot drift from what they get.

use std::process::Stdio;

use crate::binary::{KillOnDrop, command, free_port, tempdir, wait_ready};
use crate::helpers::drop_database;

const README: &str = include_str!("../../README.md");

/// A command of the trial and the lines it is shown printing.
struct Step {
    command: String,
    printed: Vec<String>,
}

fn trial() -> Vec<Step> {
    let block = README
        .split("<!-- trial -->")
        .nth(1)
        .and_then(|rest| rest.split("<!-- /trial -->").next())
        .expect("README.md has a trial between <!-- trial --> and <!-- /trial -->");
    let mut steps: Vec<Step> = Vec::new();
    for line in block
        .lines()
        .filter(|line| !line.starts_with("```") && !line.trim().is_empty())
    {
        match line.strip_prefix("$ ") {
            Some(command) => steps.push(Step {
                command: command.to_owned(),
                printed: Vec::new(),
            }),
            None => steps
                .last_mut()
                .expect("output follows a command")
                .printed
                .push(line.to_owned()),
        }
    }
    steps
}

/// Whether a printed line is the one shown: `…` stands for any text, and runs of spaces (a table's padding, which
/// follows the widest cell) compare equal.
fn shown_as(shown: &str, printed: &str) -> bool {
    let normal = |text: &str| text.split_whitespace().collect::<Vec<_>>().join(" ");
    let printed = normal(printed);
    let pieces: Vec<String> = shown.split('…').map(normal).collect();
    let (first, last) = (&pieces[0], &pieces[pieces.len() - 1]);
    if pieces.len() == 1 {
        return printed == *first;
    }
    let Some(mut rest) = printed.strip_prefix(first.as_str()) else {
        return false;
    };
    for piece in &pieces[1..pieces.len() - 1] {
        let Some(at) = rest.find(piece.as_str()) else {
            return false;
        };
        rest = &rest[at + piece.len()..];
    }
    rest.ends_with(last.as_str())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_trial_prints_what_the_readme_shows() {
    let steps = trial();
    assert!(steps.len() >= 5, "the trial has its steps");
    let dir = tempdir("readme-trial");
    let database = format!("rtk_trial_{}", uuid::Uuid::new_v4().simple());
    let port = free_port();
    let mut background = Vec::new();
    for step in &steps {
        let line = step.command.replace("localhost:8080", &format!("127.0.0.1:{port}"));
        let (in_background, line) = match line.strip_suffix('&') {
            Some(line) => (true, line.trim()),
            None => (false, line.as_str()),
        };
        let mut words = line.split_whitespace().peekable();
        let mut run = command(&database);
        run.current_dir(&dir)
            .env("RTK_SESSIONS__SERVER__BIND", format!("127.0.0.1:{port}"));
        while let Some((name, value)) = words.peek().and_then(|word| word.split_once('=')) {
            run.env(name, value);
            words.next();
        }
        assert_eq!(
            words.next(),
            Some("rtk-sessions"),
            "the trial runs rtk-sessions: {line}"
        );
        run.args(words);
        if in_background {
            let child = run.stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("starts");
            background.push(KillOnDrop(child));
            wait_ready(port).await;
            continue;
        }
        let output = tokio::task::block_in_place(|| run.output().expect("runs"));
        let printed = String::from_utf8_lossy(&output.stdout).to_string();
        assert!(
            output.status.success(),
            "{line}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let printed: Vec<&str> = printed.lines().collect();
        assert_eq!(
            printed.len(),
            step.printed.len(),
            "{line} printed:\n{}",
            printed.join("\n")
        );
        for (shown, printed) in step.printed.iter().zip(&printed) {
            assert!(
                shown_as(shown, printed),
                "{line}\n README shows: {shown}\n it printed:   {printed}"
            );
        }
    }
    drop(background);
    drop_database(&database);
}

#[test]
fn the_trial_comparison_reads_ellipses_and_padding() {
    assert!(shown_as("rtk-uuid: …", "rtk-uuid: 1234"));
    assert!(shown_as("…   stored  …", "2026-01-01T00:00:00Z  stored  abc"));
    assert!(!shown_as("status: 200 OK", "status: 503 Service Unavailable"));
    assert!(!shown_as("… stored", "x ignored"));
}
