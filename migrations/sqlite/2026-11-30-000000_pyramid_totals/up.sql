-- Issue #4 at 1M customers: the pyramid (GET /tiers, also answered by
-- POST /tiers/recompute) and the Pareto analysis read these instead of
-- every card. Tier totals walk the first index without touching the table;
-- the profit of the top 20 % and the deciles walk the second in profit
-- order (highest first, ties by id) instead of sorting a million rows.
CREATE INDEX customers_tier_totals ON customers (tier, tier_profit_cents) WHERE archived_at IS NULL;
CREATE INDEX customers_tier_profit ON customers (tier_profit_cents DESC, id) WHERE archived_at IS NULL;
