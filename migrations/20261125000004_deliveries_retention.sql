-- The retention sweep removes delivery rows by age. Rows arrive in received_at order, so a BRIN index finds the
-- old ones for almost no cost at insert time.
CREATE INDEX deliveries_received_at_brin ON deliveries USING brin (received_at);
