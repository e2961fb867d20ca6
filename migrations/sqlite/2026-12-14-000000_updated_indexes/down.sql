DROP INDEX interactions_updated;
DROP INDEX transactions_updated;
