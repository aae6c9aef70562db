-- A follow-up's message id (its Standard Webhooks `webhook-id`) must be unique across installations and database
-- rebuilds, and the same on every retry: random, and stored with the job. It is not a secret. `gen_random_uuid()`
-- draws every one from OpenSSL's cryptographic generator: 1.56 us a row on a two-core machine (a million rows
-- inserted with it as their default, against none), paid by every job that ingest queues, about 3% of the ingest
-- writers' Postgres time. `random()` is Postgres's own generator (xoroshiro128**), seeded for each connection from
-- the cryptographic one; four draws give each half of the id 63 bits, at least 104 of them random, in 0.75 us a
-- row. A billion jobs, across installations and restored backups, repeat an id with a chance of about one in
-- 4 * 10^13. Jobs queued before keep their ids.
CREATE FUNCTION followup_message_id() RETURNS uuid
    LANGUAGE sql VOLATILE PARALLEL SAFE AS $$
    SELECT encode(int8send((random() * 9223372036854775807)::int8 # (random() * 4503599627370496)::int8)
                  || int8send((random() * 9223372036854775807)::int8 # (random() * 4503599627370496)::int8),
                  'hex')::uuid
$$;
ALTER TABLE followup_jobs ALTER COLUMN message_id SET DEFAULT followup_message_id();
