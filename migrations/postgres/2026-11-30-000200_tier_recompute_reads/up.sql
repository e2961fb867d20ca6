-- Issue #4: the archived cards, by id. The tier recompute asks "is this card
-- still active?" of up to a fifth of the cards; reading each card's row for
-- its `archived_at` reads the wide card pages (on PostgreSQL, 130 MB per
-- chunk of 100,000 ids with 20,000 moves, through a 128 MB buffer cache).
-- An absent entry in this small index answers it without the card.
CREATE INDEX customers_archived ON customers (id) WHERE archived_at IS NOT NULL;

-- No foreign key from the history to the card on PostgreSQL. The key's check
-- locks the card's row (`FOR KEY SHARE`) for every event: it dirties the wide
-- card page and writes a WAL record, which was most of the cost of an event
-- (157 of 272 ms for 20,000 tier moves). Customers are archived, never
-- deleted, and every event is written for a card the same code has just
-- read. SQLite keeps the key: its check is a read by rowid, and dropping it
-- would mean rebuilding the table. The tests run on both engines, so an
-- event for a missing card still fails a test on SQLite.
ALTER TABLE customer_events DROP CONSTRAINT customer_events_customer_id_fkey;
