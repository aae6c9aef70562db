-- Reads the whole table once (about a second per million rows) under a lock that lets deliveries be inserted and
-- read meanwhile.
ALTER TABLE deliveries VALIDATE CONSTRAINT deliveries_history_bound;
