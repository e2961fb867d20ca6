DROP INDEX churn_records_owner;
ALTER TABLE churn_records DROP COLUMN owner_id;
