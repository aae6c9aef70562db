-- Deliveries are partitioned by day (UTC) from migration 26 on. The table as it is becomes the partition of
-- everything received before a cutover: the start of today when it is empty, otherwise the start of the day after
-- tomorrow, so that a release still running keeps inserting into it while the migrations run. This constraint says
-- so; migration 25 checks it without blocking writers, and migration 26 then attaches the table without a scan.
DO $$
DECLARE
    cutover timestamptz := CASE WHEN EXISTS (SELECT 1 FROM deliveries) THEN date_trunc('day', now(), 'UTC') + interval '48 hours'
                                ELSE date_trunc('day', now(), 'UTC') END;
BEGIN
    EXECUTE format('ALTER TABLE deliveries ADD CONSTRAINT deliveries_history_bound CHECK (received_at < %L) NOT VALID',
                   cutover);
END;
$$;
