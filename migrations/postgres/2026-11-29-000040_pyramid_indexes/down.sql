DROP INDEX customers_profit_12m;
