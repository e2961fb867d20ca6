ALTER TABLE webhooks DROP COLUMN from_oldest;
