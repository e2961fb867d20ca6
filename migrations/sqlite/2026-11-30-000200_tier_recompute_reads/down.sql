DROP INDEX customers_archived;
