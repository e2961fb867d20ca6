DROP INDEX customers_tier_totals;
