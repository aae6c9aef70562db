-- no-transaction
-- Title search reads `meeting_titles` now; the trigram index of every session goes, without blocking ingest. A
-- release still running finds titles without it, more slowly, until it is replaced.
DROP INDEX CONCURRENTLY IF EXISTS sessions_meeting_title_trgm_idx;
