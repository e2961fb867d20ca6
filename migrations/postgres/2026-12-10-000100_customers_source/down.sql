DROP INDEX customers_source;
