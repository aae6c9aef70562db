-- Deliveries are partitioned by month (UTC) from migration 26 on. The table as it is becomes the partition of
-- everything received before a cutover: the start of this month when it is empty, otherwise the start of the first
-- month that begins at least two days from now, so that a release still running keeps inserting into it while the
-- migrations run. Every other partition starts at a month's start. This constraint says so; migration 25 checks it
-- without blocking writers, and migration 26 then attaches the table without a scan.
DO $$
DECLARE
    cutover timestamptz := CASE WHEN EXISTS (SELECT 1 FROM deliveries)
                                THEN date_trunc('month', now() + interval '48 hours', 'UTC') + interval '1 month'
                                ELSE date_trunc('month', now(), 'UTC') END;
BEGIN
    EXECUTE format('ALTER TABLE deliveries ADD CONSTRAINT deliveries_history_bound CHECK (received_at < %L) NOT VALID',
                   cutover);
END;
$$;
