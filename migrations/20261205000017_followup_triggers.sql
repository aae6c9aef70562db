-- A follow-up runs on triggers (`on = [...]`): a job is one occurrence of one trigger for one follow-up. `subject`
-- tells apart the occurrences of a trigger within a session: the participant of `participant.joined` and
-- `participant.left`, the file of `artifact.archived`, and '' for the ones that happen once per session. The jobs
-- queued before this migration ran on the session's end. Adding the columns with constant defaults rewrites
-- nothing; the key that identifies an occurrence is built by the next migration without blocking ingest, and
-- replaces the old key in the one after.
ALTER TABLE followup_jobs ADD COLUMN trigger text NOT NULL DEFAULT 'session.ended',
                          ADD COLUMN subject text COLLATE "C" NOT NULL DEFAULT '';
