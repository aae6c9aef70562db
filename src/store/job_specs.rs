//! Which follow-ups listen for which triggers, in the form the statements that record an occurrence read: one
//! `jsonb` parameter, joined as the CTE `listeners`, so that the job rows are written in the same statement as
//! their cause.

use serde::Serialize;

use crate::domain::Trigger;
use crate::domain::job::FollowupKind;

/// One enabled follow-up listening for one trigger, with its filters.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobSpec {
    pub name: String,
    pub kind: FollowupKind,
    pub trigger: Trigger,
    /// Only the sessions of these apps; `None`: every app's.
    pub apps: Option<Vec<String>>,
    /// Only sessions that lasted at least this long (0 for the triggers before the end).
    pub min_duration_secs: i64,
}

/// What the statements that record an occurrence (a session ended, a participant joined, a file archived...) need
/// to queue one job per follow-up listening for it: every [`JobSpec`], bound as one `jsonb` parameter and read by
/// [`LISTENERS`].
#[derive(Debug, Clone)]
pub struct JobSpecs {
    specs: Vec<JobSpec>,
    pub max_attempts: i32,
    /// `specs` as JSON, made once.
    json: String,
}

impl Default for JobSpecs {
    fn default() -> Self {
        Self::new(Vec::new(), 1)
    }
}

impl JobSpecs {
    pub fn new(specs: Vec<JobSpec>, max_attempts: i32) -> Self {
        let json = serde_json::to_string(&specs).unwrap_or_else(|_| "[]".to_owned());
        Self {
            specs,
            max_attempts,
            json,
        }
    }

    pub fn specs(&self) -> &[JobSpec] {
        &self.specs
    }

    /// The specs as the `jsonb` parameter that [`LISTENERS`] reads.
    pub fn json(&self) -> &str {
        &self.json
    }

    /// The configured name of the follow-up of `kind`, for the kinds there is at most one of (`archive`).
    pub fn name_of(&self, kind: FollowupKind) -> Option<&str> {
        self.specs.iter().find(|s| s.kind == kind).map(|s| s.name.as_str())
    }

    /// The follow-ups' names, each once, in their configured order.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for spec in &self.specs {
            if !names.contains(&spec.name) {
                names.push(spec.name.clone());
            }
        }
        names
    }
}

/// The CTE `listeners`: the [`JobSpecs`] bound as `param`, one row per follow-up and trigger.
pub(crate) fn listeners(param: &str) -> String {
    format!(
        "listeners AS (
            SELECT * FROM jsonb_to_recordset({param}::jsonb)
                AS l(name text, kind text, trigger text, apps text[], min_duration_secs int8)
        )"
    )
}

/// The triggers whose jobs are queued when a session is recorded: `session.completed` waits in the queue until
/// the session is complete (see `followups::completion`).
pub(crate) const AT_THE_END: &str = "ANY(ARRAY['session.ended', 'session.completed'])";

/// The join condition of `listeners l` for an occurrence of `trigger` (an SQL expression giving its name) in a
/// session of `app` that lasted `duration` seconds (SQL expressions; `NULL` for a duration not known yet).
pub(crate) fn listening(trigger: &str, app: &str, duration: &str) -> String {
    format!(
        "l.trigger = {trigger} AND (l.apps IS NULL OR {app} = ANY(l.apps))
         AND (l.min_duration_secs = 0 OR {duration} >= l.min_duration_secs)"
    )
}
