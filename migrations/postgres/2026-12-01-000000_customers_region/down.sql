DROP INDEX customers_region;
