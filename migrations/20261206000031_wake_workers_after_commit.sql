-- The workers are woken after the jobs' commit, by whoever committed them (`followup_jobs::wake_workers`), not by a
-- trigger inside the transaction: Postgres serializes the commits of all transactions that notify, through one
-- database-wide lock held until each commit record is flushed, so the trigger's NOTIFY made every ingest commit of
-- every replica wait for the one before it.
--
-- A release still running during an upgrade no longer wakes the workers; its jobs are found by the workers' poll
-- (`worker.poll_interval_secs`) until it is replaced.
DROP TRIGGER IF EXISTS followup_jobs_notify ON followup_jobs;
DROP FUNCTION IF EXISTS followup_jobs_notify();
