-- Issue #4 at 1M customers: the pyramid (GET /tiers, also answered by
-- POST /tiers/recompute) counts and sums the active customers per tier. With
-- the default 12-month window it sums the cards' `profit_12m_cents`; this
-- index answers that without touching the table, and hands the tier
-- recompute the active customers above `small` (with their id) to compare
-- with the new ranking. `archived_at` is a key column rather than a partial
-- index condition so that SQLite, whatever its statistics, sees two
-- equalities here against one in `customers_tier`. The top 20 % (Pareto)
-- and the deciles walk `customers_profit_12m` in profit order.
CREATE INDEX customers_tier_totals ON customers (tier, archived_at, profit_12m_cents, id);
