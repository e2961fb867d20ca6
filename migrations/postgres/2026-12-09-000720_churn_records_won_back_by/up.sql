-- The purchase whose recording won the customer back (db::churn::win_back_buyers);
-- null for a manual /reactivate, which is final. When that purchase is
-- deleted or corrected so that no purchase after the churn is left, the
-- churn is reopened (db::churn::reopen_unbought): before, the card stayed
-- won back by an order recorded by mistake. No foreign key: the transaction
-- is deleted while the record keeps its id. Win-backs recorded earlier are
-- not linked (their purchase is not kept) and stay as they are.
ALTER TABLE churn_records ADD COLUMN reactivated_by_transaction_id BIGINT;
