-- Sessions found by the reconciliation sweep have no delivery; say where each session came from.
ALTER TABLE sessions ALTER COLUMN delivery_id DROP NOT NULL;
ALTER TABLE sessions ADD COLUMN source text NOT NULL DEFAULT 'delivery'
    CONSTRAINT sessions_source_check CHECK (source IN ('delivery', 'reconciliation'));

-- The webhook this service registered with RealtimeKit, and how the last attempt went. One row.
CREATE TABLE webhook_registration (
    id           smallint    CONSTRAINT webhook_registration_pkey PRIMARY KEY DEFAULT 1
        CONSTRAINT webhook_registration_single_row CHECK (id = 1),
    webhook_id   text,
    url          text,
    outcome      text        NOT NULL,
    detail       text,
    updated_at   timestamptz NOT NULL DEFAULT now()
);
