-- no-transaction
-- Each word of a title search is one `meeting_title ILIKE '%word%'`, which this index serves (built without blocking
-- ingest). Sessions without a title are left out of it.
CREATE INDEX CONCURRENTLY IF NOT EXISTS sessions_meeting_title_trgm_idx
    ON sessions USING gin (meeting_title gin_trgm_ops) WHERE meeting_title IS NOT NULL;
