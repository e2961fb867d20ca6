-- Pull-based sync of orders and contacts (`?updated_since=…&sort=updated_at`):
-- the pages follow these indexes, as the customers' follow `customers_updated`.
-- Without them the last page of every poll read the whole table.
CREATE INDEX transactions_updated ON transactions (updated_at, id);
CREATE INDEX interactions_updated ON interactions (updated_at, id);
