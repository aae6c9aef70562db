-- Whose delivery it is. Deliveries carry the app id they were attributed to; a delivery of an app that is not
-- configured is kept as 'foreign' (bounded by ingest.foreign_deliveries_kept) and nothing is done for it. Rows from
-- before keep app_id NULL: their sessions carry their app in organization_id, which is what the API shows as app_id.
ALTER TABLE deliveries ADD COLUMN app_id text COLLATE "C";
ALTER TABLE deliveries DROP CONSTRAINT deliveries_status_check;
-- NOT VALID, then VALIDATE: the check of existing rows does not block writes.
ALTER TABLE deliveries ADD CONSTRAINT deliveries_status_check
    CHECK (status IN ('stored', 'duplicate', 'ignored', 'unprocessable', 'foreign')) NOT VALID;
ALTER TABLE deliveries VALIDATE CONSTRAINT deliveries_status_check;
-- Lists foreign deliveries, counts them against their bound, and finds the apps an operator may have forgotten.
CREATE INDEX deliveries_foreign_idx ON deliveries (received_at DESC, delivery_id DESC) WHERE status = 'foreign';

-- One webhook registration per app. The single row of before names no app; the next start finds its webhook by
-- URL again and records it under its app.
DROP TABLE webhook_registration;
CREATE TABLE webhook_registrations (
    app_id      text        COLLATE "C" CONSTRAINT webhook_registrations_pkey PRIMARY KEY,
    webhook_id  text,
    url         text,
    outcome     text        NOT NULL,
    detail      text,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
