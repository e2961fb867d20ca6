-- Issue #4: a customer's tier lives in a narrow table of its own, holding
-- only the customers above `small` (no row = `small`). A recompute after a
-- bulk load moves a fifth of the customers at once; in the wide card row
-- each move was a new version of the whole card in every one of its
-- indexes (about 16 index entries per card on PostgreSQL: 11.5 s for
-- 200,000 moves with everything cached, 25 s in the bench). Here a move is
-- one narrow row in two small indexes, new cards write nothing, and the
-- card loses two indexes that every card insert and update paid for.
-- No foreign key: only the recompute writes here, from customers it has
-- just read, and customers are archived, never deleted. On PostgreSQL the
-- key's check was a third of the cost of writing a tier row (a trigger per
-- row that also locks the card's row). INTEGER PRIMARY KEY: the key is the
-- rowid (no second index) and, declared NOT NULL, never NULL, which the
-- segment rules' `NOT IN` relies on.
CREATE TABLE customer_tiers (
    customer_id INTEGER PRIMARY KEY NOT NULL,
    tier TEXT NOT NULL
);
INSERT INTO customer_tiers (customer_id, tier)
    SELECT id, tier FROM customers WHERE tier <> 'small';
-- The list filter and segment rules by tier; the recompute's current tiers.
CREATE INDEX customer_tiers_tier ON customer_tiers (tier, customer_id);
DROP INDEX customers_tier_totals;
DROP INDEX customers_tier;
ALTER TABLE customers DROP COLUMN tier;
