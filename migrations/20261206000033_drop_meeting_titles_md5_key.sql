-- no-transaction
-- The MD5 key, replaced by the hash key of the migration before; dropped without blocking ingest.
DROP INDEX CONCURRENTLY IF EXISTS meeting_titles_key;
