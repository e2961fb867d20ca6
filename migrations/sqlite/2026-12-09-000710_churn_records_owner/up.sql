-- Who owned the card when the churn was recorded: /analytics/churn's owner
-- filter reads it, so a loss stays with the rep who lost the customer when
-- a manager hands the card to someone else (by the card's current owner,
-- the successor inherited the losses and past reports changed). Earlier
-- churns are given the card's current owner: who owned it then is not kept.
-- A user id, without a foreign key: SQLite cannot drop a column that has one
-- (down.sql); the writes take it from the card, whose owner is checked.
ALTER TABLE churn_records ADD COLUMN owner_id BIGINT;
UPDATE churn_records SET owner_id = (SELECT c.owner_id FROM customers c WHERE c.id = churn_records.customer_id);
CREATE INDEX churn_records_owner ON churn_records (owner_id, churned_at);
