-- The list's text search (`q`, a substring of name, company, email or phone)
-- read every card when few matched: 0.6-1.4 s at 1.4 million cards. A
-- trigram index (pg_trgm, shipped with PostgreSQL) serves `search_text LIKE
-- '%term%'` as it is, for terms of three characters or more.
-- pg_trgm is a trusted extension: the database's owner may create it. Where
-- it cannot be created (not installed, no right), Patron still starts and
-- the search still answers, by reading the cards as before; PostgreSQL's log
-- shows the notice. An extension created earlier in another schema is used
-- from there.
DO $$
DECLARE
    trgm_schema name;
BEGIN
    BEGIN
        CREATE EXTENSION IF NOT EXISTS pg_trgm;
    EXCEPTION WHEN OTHERS THEN
        RAISE NOTICE 'pg_trgm unavailable (%): the customer search reads every card', SQLERRM;
    END;
    SELECT n.nspname INTO trgm_schema
    FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
    WHERE e.extname = 'pg_trgm';
    IF trgm_schema IS NOT NULL THEN
        EXECUTE format(
            'CREATE INDEX IF NOT EXISTS customers_search_trigrams ON customers USING gin (search_text %I.gin_trgm_ops)',
            trgm_schema
        );
    END IF;
END
$$;
