-- Issue #4: the archived cards, by id. The tier recompute asks "is this card
-- still active?" of up to a fifth of the cards; reading each card's row for
-- its `archived_at` reads the wide card pages (on PostgreSQL, 130 MB per
-- chunk of 100,000 ids with 20,000 moves, through a 128 MB buffer cache).
-- An absent entry in this small index answers it without the card.
CREATE INDEX customers_archived ON customers (id) WHERE archived_at IS NOT NULL;
