-- The budget of calls to Cloudflare that every replica shares (see `realtimekit::budget`). Per bucket (an API
-- token, an app, an app's recording APIs): the theoretical arrival time of the generic cell rate algorithm (none
-- before the first call), and until when a 429's retry-after pauses it. A handful of rows, each call updating its
-- own under a row lock.
CREATE TABLE cloudflare_budget (
    bucket       text        COLLATE "C" NOT NULL CONSTRAINT cloudflare_budget_pkey PRIMARY KEY,
    tat          timestamptz,
    paused_until timestamptz
);
