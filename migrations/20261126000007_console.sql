-- The operator console: the key that signs its sign-in sessions and CSRF tokens (one row, made once by whichever
-- replica first needs it, so that every replica accepts every session), and the indexes of its follow-up lists.
CREATE TABLE console_signing_key (
    id         smallint PRIMARY KEY CHECK (id = 1),
    key        bytea NOT NULL CHECK (octet_length(key) = 32),
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Dead jobs, and jobs waiting after a failed attempt, newest first: what the console's follow-up page lists.
CREATE INDEX followup_jobs_dead_idx ON followup_jobs (id DESC) WHERE status = 'dead';
CREATE INDEX followup_jobs_failing_idx ON followup_jobs (id DESC) WHERE status = 'queued' AND last_error IS NOT NULL;

-- Each finished attempt of a follow-up job: when, how it ended and why it failed, for the console's session page
-- (a job row keeps only its count of attempts and its last error). A job has at most max_attempts of them per run.
CREATE TABLE followup_attempts (
    id          bigint      GENERATED ALWAYS AS IDENTITY CONSTRAINT followup_attempts_pkey PRIMARY KEY,
    job_id      bigint      NOT NULL REFERENCES followup_jobs (id) ON DELETE CASCADE,
    attempt     integer     NOT NULL,
    outcome     text        NOT NULL
        CONSTRAINT followup_attempts_outcome_check CHECK (outcome IN ('succeeded', 'failed', 'lease_expired')),
    error       text,
    finished_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX followup_attempts_job_idx ON followup_attempts (job_id, id);
