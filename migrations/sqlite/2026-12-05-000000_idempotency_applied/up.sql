-- Set in the transaction of a keyed request's write: a claim whose response
-- was never stored is known to have been applied, and is not run again.
ALTER TABLE idempotency_keys ADD COLUMN applied BOOLEAN NOT NULL DEFAULT 0;
