-- A purchase is a transaction with an amount above 0 (db::purchase): an
-- order corrected to 0 (a refund, as the README advises) and a free
-- after-sales service are records, not purchases. The cards' purchase count
-- and first/last purchase dates counted every transaction; recomputed here
-- as the writes now compute them. Only a card with a transaction of 0 can
-- differ. The CPR stage and loyalty type read these figures: the start-up
-- recompute (and every later round) moves them, with their events.
UPDATE customers SET
    purchase_count = (SELECT COUNT(*) FROM transactions t
                      WHERE t.customer_id = customers.id AND t.amount_cents > 0),
    first_purchase_at = (SELECT MIN(t.occurred_at) FROM transactions t
                         WHERE t.customer_id = customers.id AND t.amount_cents > 0),
    last_purchase_at = (SELECT MAX(t.occurred_at) FROM transactions t
                        WHERE t.customer_id = customers.id AND t.amount_cents > 0)
WHERE id IN (SELECT customer_id FROM transactions WHERE amount_cents <= 0);
