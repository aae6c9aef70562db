-- no-transaction
-- Replaced by `deliveries_session_events_idx`, which covers the same events and more.
DROP INDEX CONCURRENTLY IF EXISTS deliveries_artifact_session_idx;
