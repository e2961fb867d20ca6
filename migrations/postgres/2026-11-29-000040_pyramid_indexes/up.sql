-- Issue #4 at 1M customers: the tier recompute ranks the cards by their
-- 12-month profit (profit desc, id asc) and only the first `ordinary` ranks
-- among the active customers matter. This index hands them over in that
-- order, with `archived_at` to filter on, without a sort of every customer.
CREATE INDEX customers_profit_12m ON customers (profit_12m_cents DESC, id, archived_at);
