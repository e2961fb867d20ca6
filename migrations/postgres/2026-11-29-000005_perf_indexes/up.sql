-- Issue #4's benchmark (1M customers, 10M transactions): the CPR recompute
-- sums each id range's window revenue, and the per-customer refresh its
-- figures, from `transactions_customer`. With the amounts in the index those
-- reads are index-only instead of one random table read per transaction
-- (a customer's rows are scattered through the table by time). The key
-- (customer_id, occurred_at, id) is unchanged, so the timeline's keyset
-- pages use it as before.
DROP INDEX transactions_customer;
CREATE INDEX transactions_customer ON transactions (customer_id, occurred_at, id, amount_cents, cost_cents);
