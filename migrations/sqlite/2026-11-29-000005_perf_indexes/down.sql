DROP INDEX transactions_customer;
CREATE INDEX transactions_customer ON transactions (customer_id, occurred_at, id);
