-- Sessions are searched by meeting title (GET /sessions?title=): trigram indexes serve `ILIKE '%word%'`. pg_trgm is
-- a trusted extension: the database's owner may create it without being a superuser.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
