-- Deliveries, partitioned by month (UTC) of received_at, so that retention drops whole months instead of deleting
-- rows (see retention.rs). A month, not a day: a year kept is 13 partitions, and a query the planner cannot prune (a
-- list's first page, a lookup by id) stays as cheap as on one table; a year of days made it plan 370 partitions,
-- 27 ms a query. The table as it was becomes `deliveries_history`: everything received before the first month
-- partition. Retention empties it of old rows as before, and it keeps the unprocessable and foreign deliveries of the
-- months it drops, for as long as their own retention says.
--
-- Uniqueness lives in each partition (a unique index of a partitioned table would have to include received_at):
-- the delivery id and the body's SHA-256 are unique within a month, and `deliveries_seen_recently` finds a retry of
-- a delivery received in the partition before. A release still running keeps working throughout: its statements name
-- `deliveries`, which is now the partitioned table, and the rows it writes before the cutover go to the history.
ALTER TABLE deliveries RENAME TO deliveries_history;
ALTER TABLE deliveries_history RENAME CONSTRAINT deliveries_pkey TO deliveries_history_pkey;
ALTER INDEX deliveries_body_sha256_key RENAME TO deliveries_history_body_sha256_key;
ALTER INDEX deliveries_received_idx RENAME TO deliveries_history_received_idx;
ALTER INDEX deliveries_unprocessable_idx RENAME TO deliveries_history_unprocessable_idx;
ALTER INDEX deliveries_foreign_idx RENAME TO deliveries_history_foreign_idx;
ALTER INDEX deliveries_duplicate_session_idx RENAME TO deliveries_history_duplicate_session_idx;
ALTER INDEX deliveries_session_events_idx RENAME TO deliveries_history_session_events_idx;

CREATE TABLE deliveries (LIKE deliveries_history INCLUDING DEFAULTS INCLUDING CONSTRAINTS)
    PARTITION BY RANGE (received_at);
ALTER TABLE deliveries DROP CONSTRAINT deliveries_history_bound;

DO $$
DECLARE
    cutover timestamptz;
BEGIN
    SELECT substring(pg_get_constraintdef(oid) FROM '''([^'']+)''')::timestamptz INTO STRICT cutover
    FROM pg_constraint WHERE conrelid = 'deliveries_history'::regclass AND conname = 'deliveries_history_bound';
    -- The constraint proves the bound, so attaching reads nothing.
    EXECUTE format('ALTER TABLE deliveries ATTACH PARTITION deliveries_history FOR VALUES FROM (MINVALUE) TO (%L)',
                   cutover);
END;
$$;
ALTER TABLE deliveries_history DROP CONSTRAINT deliveries_history_bound;

-- The lookup indexes of every partition. The history's own are attached, not built again.
CREATE INDEX deliveries_received_idx ON deliveries (received_at DESC, delivery_id DESC);
CREATE INDEX deliveries_unprocessable_idx ON deliveries (received_at DESC, delivery_id DESC)
    WHERE status = 'unprocessable';
CREATE INDEX deliveries_foreign_idx ON deliveries (received_at DESC, delivery_id DESC) WHERE status = 'foreign';
CREATE INDEX deliveries_duplicate_session_idx ON deliveries (session_id) WHERE status = 'duplicate';
CREATE INDEX deliveries_session_events_idx ON deliveries (session_id)
    WHERE event IN ('meeting.started', 'livestreaming.statusUpdate', 'recording.statusUpdate', 'meeting.transcript',
                    'meeting.summary', 'meeting.chatSynced');

-- Makes the month partitions from the month of `first_day` to the month of `last_day` (UTC) that do not exist yet,
-- each with its unique delivery id and body digest; a month starts at the history's end if that falls within it,
-- and months before it are the history's. Attaching a table takes a lock that lets deliveries be inserted and read
-- meanwhile (CREATE TABLE ... PARTITION OF would not). Replicas serialise on an advisory lock. Returns how many it
-- made.
CREATE FUNCTION deliveries_make_partitions(first_day timestamptz, last_day timestamptz) RETURNS integer
    LANGUAGE plpgsql AS $$
DECLARE
    history_end timestamptz;
    month timestamptz;
    name text;
    made integer := 0;
BEGIN
    PERFORM pg_advisory_xact_lock(7275, 3);
    SELECT substring(pg_get_expr(relpartbound, oid) FROM 'TO \(''([^'']+)''\)')::timestamptz INTO STRICT history_end
    FROM pg_class WHERE oid = 'deliveries_history'::regclass;
    month := date_trunc('month', first_day, 'UTC');
    WHILE month <= last_day LOOP
        name := 'deliveries_' || to_char(month AT TIME ZONE 'UTC', 'YYYYMM');
        IF month + interval '1 month' > history_end AND to_regclass(name) IS NULL THEN
            EXECUTE format('CREATE TABLE %I (LIKE deliveries INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', name);
            EXECUTE format('CREATE UNIQUE INDEX %I ON %I (delivery_id)', name || '_delivery_id_key', name);
            EXECUTE format('CREATE UNIQUE INDEX %I ON %I (body_sha256)', name || '_body_sha256_key', name);
            EXECUTE format('ALTER TABLE deliveries ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', name,
                           greatest(month, history_end), month + interval '1 month');
            made := made + 1;
        END IF;
        month := month + interval '1 month';
    END LOOP;
    RETURN made;
END;
$$;

-- Drops the month partitions that ended by `ended_before`, oldest first, in one transaction: each one's unprocessable
-- deliveries received since `unprocessable_since` (all of them when it is NULL) and foreign ones since
-- `foreign_since` (likewise) move to the history, whose range grows to the dropped month's end. The history is
-- detached and attached again around the move, which takes the table's exclusive lock for as long as the move
-- (a few rows) and the history's check (its rows, old ones already removed) take. Returns how many it dropped.
CREATE FUNCTION deliveries_drop_partitions(ended_before timestamptz, unprocessable_since timestamptz,
                                           foreign_since timestamptz) RETURNS integer
    LANGUAGE plpgsql AS $$
DECLARE
    month_partition record;
    dropped integer := 0;
BEGIN
    PERFORM pg_advisory_xact_lock(7275, 3);
    FOR month_partition IN
        SELECT c.relname AS name,
               substring(pg_get_expr(c.relpartbound, c.oid) FROM 'TO \(''([^'']+)''\)')::timestamptz AS ends
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'deliveries'::regclass AND c.relname ~ '^deliveries_[0-9]{6}$'
        ORDER BY 2
    LOOP
        EXIT WHEN month_partition.ends > ended_before;
        ALTER TABLE deliveries DETACH PARTITION deliveries_history;
        EXECUTE format('ALTER TABLE deliveries DETACH PARTITION %I', month_partition.name);
        EXECUTE format(
            'INSERT INTO deliveries_history SELECT * FROM %I
             WHERE (status = ''unprocessable'' AND (%L::timestamptz IS NULL OR received_at >= %L::timestamptz))
                OR (status = ''foreign'' AND (%L::timestamptz IS NULL OR received_at >= %L::timestamptz))',
            month_partition.name, unprocessable_since, unprocessable_since, foreign_since, foreign_since);
        EXECUTE format('DROP TABLE %I', month_partition.name);
        EXECUTE format('ALTER TABLE deliveries ATTACH PARTITION deliveries_history FOR VALUES FROM (MINVALUE) TO (%L)',
                       month_partition.ends);
        dropped := dropped + 1;
    END LOOP;
    RETURN dropped;
END;
$$;

-- Where the partition being written starts: every partition but the history starts at a month's start (UTC).
CREATE FUNCTION deliveries_current_partition_start() RETURNS timestamptz
    LANGUAGE sql STABLE AS $$ SELECT date_trunc('month', now(), 'UTC') $$;

-- The deliveries received from 24 hours ago (longer than RealtimeKit retries) up to the start of the partition
-- being written, with one of these ids or body digests: what its unique indexes cannot see when a retry crosses
-- the start of a month. Every statement that records deliveries leaves these out. Outside the first day of a month
-- the range is empty and no partition is read; on it, two index probes per delivery in last month's partition.
CREATE FUNCTION deliveries_seen_recently(ids text[], digests bytea[])
    RETURNS TABLE (delivery_id text, body_sha256 bytea)
    LANGUAGE sql STABLE AS $$
    SELECT d.delivery_id, d.body_sha256 FROM deliveries d
    WHERE d.received_at >= now() - interval '24 hours' AND d.received_at < deliveries_current_partition_start()
      AND (d.delivery_id = ANY (ids) OR d.body_sha256 = ANY (digests))
$$;

SELECT deliveries_make_partitions(now(), now() + interval '31 days');
