-- Set in the transaction of a keyed request's write: a claim whose response
-- was never stored is known to have been applied, and is not run again.
ALTER TABLE idempotency_keys ADD COLUMN applied BOOLEAN NOT NULL DEFAULT 0;
-- Which run of the request holds the claim: a retry that takes a stale claim
-- over replaces it, and the overtaken run can then no longer mark it (its
-- write rolls back instead of being a second one).
ALTER TABLE idempotency_keys ADD COLUMN claim_token TEXT;
