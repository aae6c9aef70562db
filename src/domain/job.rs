//! The states of a follow-up job.

use serde::Serialize;

/// Where a follow-up job stands. `queued` jobs are due at their `run_at`; `dead` ones wait for an operator's retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Queued,
    Running,
    Succeeded,
    Dead,
}

impl JobStatus {
    pub const ALL: [Self; 4] = [Self::Queued, Self::Running, Self::Succeeded, Self::Dead];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Dead => "dead",
        }
    }

    /// The status a text names; an unknown one is an error, never a guess.
    pub fn parse(text: &str) -> Result<Self, UnknownJobStatus> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == text)
            .ok_or_else(|| UnknownJobStatus(text.to_owned()))
    }
}

impl std::fmt::Display for JobStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TryFrom<String> for JobStatus {
    type Error = UnknownJobStatus;

    fn try_from(text: String) -> Result<Self, UnknownJobStatus> {
        Self::parse(&text)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0:?} is not a follow-up job status (one of queued, running, succeeded, dead)")]
pub struct UnknownJobStatus(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_and_unknown_ones_are_refused() {
        for status in JobStatus::ALL {
            assert_eq!(JobStatus::parse(status.as_str()).ok(), Some(status));
        }
        for unknown in ["", "DEAD", "bogus"] {
            assert!(JobStatus::parse(unknown).is_err(), "{unknown}");
        }
    }
}
