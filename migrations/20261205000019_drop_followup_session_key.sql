-- The occurrence key (previous migration) replaces the one job per session and follow-up.
ALTER TABLE followup_jobs DROP CONSTRAINT followup_jobs_session_followup_key;
