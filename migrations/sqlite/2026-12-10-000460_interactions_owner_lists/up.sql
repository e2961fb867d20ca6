-- GET /interactions?owner_id= reaches the interactions through the owner's
-- cards (customers_owner, then one look-up per card). By the card alone
-- (interactions_customer) the morning list read each card's whole history
-- for the few follow-ups still owed; this index holds only those. (The
-- PostgreSQL twin also indexes the open complaints: SQLite does not match
-- the bound `complaint_status` to a partial index, and reads those by card.)
CREATE INDEX interactions_customer_follow_up ON interactions (customer_id, follow_up_at, id) WHERE follow_up_done_at IS NULL AND follow_up_at IS NOT NULL;
