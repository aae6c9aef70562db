//! A follow-up job as a table row, the same on a session's page and on the follow-ups list.

use maud::{Markup, html};

use super::paths;
use super::session::ConsoleSession;
use super::views::{action_button, badge, maybe_time, time};
use crate::store::followup_jobs::{Attempt, Job, JobStatus};

/// The attempts of a job, folded under it (open them without JavaScript).
pub fn attempt_rows(job: &Job, attempts: &[Attempt]) -> Markup {
    let mine: Vec<&Attempt> = attempts.iter().filter(|a| a.job_id == job.id).collect();
    html! {
        @if !mine.is_empty() {
            tr.attempts {
                td colspan="6" {
                    details {
                        summary { "Attempts (" (mine.len()) ")" }
                        ol {
                            @for a in &mine {
                                li {
                                    "#" (a.attempt) " " (time(a.finished_at)) " " (badge(a.outcome.as_str()))
                                    @if let Some(error) = &a.error { " " span.error-text { (error) } }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A follow-up job: its attempts, its last error and, for `operate`, Retry when it is dead or waiting. `listed`: on
/// the follow-ups list, where the row starts with its session (and the meeting's title, when known) and its id.
pub fn job_row(session: &ConsoleSession, job: &Job, listed: Option<Option<&str>>) -> Markup {
    let retryable = matches!(job.status, JobStatus::Dead | JobStatus::Queued);
    html! {
        tr {
            @if let Some(title) = listed {
                td {
                    @if let Some(title) = title { (title) br; }
                    a href=(paths::session_href(&job.session_id)) { code.small { (job.session_id) } }
                }
                td.n { (job.id) }
            }
            td {
                (job.followup) @if job.followup != job.kind.as_str() { " (" (job.kind.as_str()) ")" }
                br; small { (job.trigger.as_str()) @if !job.subject.is_empty() { " · " code { (job.subject) } } }
            }
            td { (badge(job.status.as_str())) }
            td.n {
                (job.attempts) " / " (job.max_attempts)
                @if job.attempts > job.max_attempts { br; small { "retried while its files can be saved" } }
            }
            td { @if job.status == JobStatus::Queued { (time(job.run_at)) } @else { (maybe_time(job.finished_at)) } }
            td.error-text { (job.last_error.as_deref().unwrap_or("")) }
            td { @if retryable { (action_button(session, &format!("/console/followups/{}/retry", job.id), "Retry")) } }
        }
    }
}
