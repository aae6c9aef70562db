-- The follow-up queue: one job per (session, configured follow-up), inserted in the same transaction as the
-- session (transactional outbox). Workers claim due jobs with FOR UPDATE SKIP LOCKED and hold them under a lease.
CREATE TABLE followup_jobs (
    id            bigint      GENERATED ALWAYS AS IDENTITY CONSTRAINT followup_jobs_pkey PRIMARY KEY,
    session_id    text        COLLATE "C" NOT NULL,
    followup      text        COLLATE "C" NOT NULL,  -- the configured name
    kind          text        NOT NULL,
    status        text        NOT NULL DEFAULT 'queued'
        CONSTRAINT followup_jobs_status_check CHECK (status IN ('queued', 'running', 'succeeded', 'dead')),
    attempts      integer     NOT NULL DEFAULT 0,
    max_attempts  integer     NOT NULL,
    run_at        timestamptz NOT NULL DEFAULT now(),
    -- While running: until when the claim holds, and the claim's token (each claim has its own).
    locked_until  timestamptz,
    lease_token   uuid,
    last_error    text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz,
    CONSTRAINT followup_jobs_session_followup_key UNIQUE (session_id, followup)
);

CREATE INDEX followup_jobs_due_idx ON followup_jobs (run_at) WHERE status = 'queued';
CREATE INDEX followup_jobs_lease_idx ON followup_jobs (locked_until) WHERE status = 'running';

-- Wake the workers when jobs arrive (delivered at commit, once per transaction).
CREATE FUNCTION followup_jobs_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM inserted) THEN
        PERFORM pg_notify('rtk_followup_jobs', '');
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER followup_jobs_notify AFTER INSERT ON followup_jobs
    REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION followup_jobs_notify();

CREATE TABLE session_reports (
    session_id    text        COLLATE "C" CONSTRAINT session_reports_pkey PRIMARY KEY,
    report        jsonb       NOT NULL,
    generated_at  timestamptz NOT NULL DEFAULT now()
);
