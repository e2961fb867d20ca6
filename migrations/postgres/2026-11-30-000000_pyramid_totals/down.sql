DROP INDEX customers_tier_profit;
DROP INDEX customers_tier_totals;
