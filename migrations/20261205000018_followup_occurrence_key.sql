-- no-transaction
-- One job per follow-up and occurrence (see the previous migration), built without blocking ingest.
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS followup_jobs_occurrence_key
    ON followup_jobs (session_id, followup, trigger, subject);
