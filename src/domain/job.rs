//! Follow-up jobs: their kinds and their states.

use serde::{Deserialize, Serialize};

use super::names::UnknownValue;
use super::trigger::Trigger;

/// The built-in follow-ups, as named by `[[followups]] kind = ...` and stored in a job's `kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FollowupKind {
    /// POSTs a signed Standard Webhooks notification.
    Webhook,
    /// Posts a message to a Slack incoming webhook.
    Slack,
    /// Stores the session's participant report.
    Report,
    /// Disables the meeting so nobody joins it again.
    DisableMeeting,
    /// Copies the session's recordings, transcript, summary and chat to the archive store.
    Archive,
    /// Publishes the message to a NATS JetStream subject.
    Nats,
    /// Publishes the message to a RabbitMQ (AMQP 0.9.1) exchange.
    Rabbitmq,
    /// Appends the message to a Redis stream.
    Redis,
    /// Sends the message to an Amazon SQS queue.
    Sqs,
}

impl FollowupKind {
    pub const ALL: [Self; 9] = [
        Self::Webhook,
        Self::Slack,
        Self::Report,
        Self::DisableMeeting,
        Self::Archive,
        Self::Nats,
        Self::Rabbitmq,
        Self::Redis,
        Self::Sqs,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Webhook => "webhook",
            Self::Slack => "slack",
            Self::Report => "report",
            Self::DisableMeeting => "disable_meeting",
            Self::Archive => "archive",
            Self::Nats => "nats",
            Self::Rabbitmq => "rabbitmq",
            Self::Redis => "redis",
            Self::Sqs => "sqs",
        }
    }

    /// The triggers it can run on. A report and disabling the meeting act on an ended session; the archive runs
    /// when a session's files are announced, and takes no `on`.
    pub fn triggers(self) -> &'static [Trigger] {
        match self {
            Self::Report | Self::DisableMeeting => &[Trigger::SessionEnded, Trigger::SessionCompleted],
            Self::Archive => &[Trigger::SessionEnded],
            Self::Webhook | Self::Slack | Self::Nats | Self::Rabbitmq | Self::Redis | Self::Sqs => &Trigger::ALL,
        }
    }

    /// Whether it is only for sessions with artifacts, queued when the first is announced (not for every session).
    pub fn only_with_artifacts(self) -> bool {
        matches!(self, Self::Archive)
    }

    /// Whether it calls the RealtimeKit API (so the credentials must be set).
    pub fn needs_realtimekit(self) -> bool {
        matches!(self, Self::Report | Self::DisableMeeting)
    }
}

impl std::fmt::Display for FollowupKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// For rows: an unknown kind (written by a newer version) is an error, never a guess.
impl TryFrom<String> for FollowupKind {
    type Error = UnknownValue;

    fn try_from(text: String) -> Result<Self, UnknownValue> {
        UnknownValue::or_variant(&Self::ALL, Self::as_str, "follow-up kind", text)
    }
}

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
}

impl std::fmt::Display for JobStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TryFrom<String> for JobStatus {
    type Error = UnknownValue;

    fn try_from(text: String) -> Result<Self, UnknownValue> {
        UnknownValue::or_variant(&Self::ALL, Self::as_str, "follow-up job status", text)
    }
}

/// What a list of follow-up jobs can be narrowed to, the same words in the API (`status=`), the console and the
/// CLI (`--status`): a status, or one of the two kinds of queued job an operator looks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobListStatus {
    Queued,
    /// Queued after a failed attempt, waiting for its next try.
    Failing,
    /// Queued and due now.
    Due,
    Running,
    Succeeded,
    Dead,
}

impl JobListStatus {
    pub const ALL: [Self; 6] = [
        Self::Dead,
        Self::Failing,
        Self::Due,
        Self::Queued,
        Self::Running,
        Self::Succeeded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Failing => "failing",
            Self::Due => "due",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Dead => "dead",
        }
    }

    pub fn parse(text: &str) -> Result<Self, UnknownValue> {
        UnknownValue::or_variant(&Self::ALL, Self::as_str, "follow-up job status", text.to_owned())
    }

    /// Whether the jobs it lists can be retried (brought back, or made due now).
    pub fn retryable(self) -> bool {
        matches!(self, Self::Dead | Self::Failing | Self::Due | Self::Queued)
    }
}

/// How one attempt of a follow-up job ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    Succeeded,
    Failed,
    /// The worker stopped before finishing; another took the job over when its lease ran out.
    LeaseExpired,
}

impl AttemptOutcome {
    pub const ALL: [Self; 3] = [Self::Succeeded, Self::Failed, Self::LeaseExpired];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::LeaseExpired => "lease_expired",
        }
    }
}

impl TryFrom<String> for AttemptOutcome {
    type Error = UnknownValue;

    fn try_from(text: String) -> Result<Self, UnknownValue> {
        UnknownValue::or_variant(&Self::ALL, Self::as_str, "attempt outcome", text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_and_unknown_ones_are_refused() {
        for status in JobStatus::ALL {
            assert_eq!(JobStatus::try_from(status.as_str().to_owned()).ok(), Some(status));
        }
        for status in JobListStatus::ALL {
            assert_eq!(JobListStatus::parse(status.as_str()).ok(), Some(status));
        }
        for unknown in ["", "DEAD", "bogus"] {
            assert!(JobStatus::try_from(unknown.to_owned()).is_err(), "{unknown}");
            assert!(JobListStatus::parse(unknown).is_err(), "{unknown}");
            assert!(FollowupKind::try_from(unknown.to_owned()).is_err(), "{unknown}");
        }
        for kind in FollowupKind::ALL {
            assert_eq!(FollowupKind::try_from(kind.as_str().to_owned()).ok(), Some(kind));
            assert_eq!(serde_json::to_value(kind).ok(), Some(serde_json::json!(kind.as_str())));
        }
    }
}
