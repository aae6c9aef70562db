-- A body already recorded byte for byte is a duplicate whatever its rtk-uuid: the signature covers the body, not
-- the header. Rows recorded before this column existed have no digest and take part in no such check.
ALTER TABLE deliveries ADD COLUMN body_sha256 bytea;
CREATE UNIQUE INDEX deliveries_body_sha256_key ON deliveries (body_sha256);

-- GET /deliveries pages newest first; the retention sweep finds old rows on the same index. Unprocessable
-- deliveries, the ones operators look for, have a small index of their own. A session's deliveries are the one that
-- stored it (sessions.delivery_id) and its duplicates, which are rare: only they are indexed by session, which
-- keeps the common insert off that index.
DROP INDEX deliveries_received_at_brin;
CREATE INDEX deliveries_received_idx ON deliveries (received_at DESC, delivery_id DESC);
CREATE INDEX deliveries_unprocessable_idx ON deliveries (received_at DESC, delivery_id DESC)
    WHERE status = 'unprocessable';
CREATE INDEX deliveries_duplicate_session_idx ON deliveries (session_id) WHERE status = 'duplicate';

-- When an operator last replayed the delivery (POST /deliveries/{id}/replay).
ALTER TABLE deliveries ADD COLUMN replayed_at timestamptz;

-- The Standard Webhooks `webhook-id` of a notification: unique across installations and database rebuilds, and
-- the same on every retry of the job.
ALTER TABLE followup_jobs ADD COLUMN message_id uuid NOT NULL DEFAULT gen_random_uuid();
