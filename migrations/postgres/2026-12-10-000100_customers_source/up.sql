-- The customer list's `source_customer_id` filter (whom did this customer
-- refer), in id order, without reading every card for the few a customer
-- referred. Partial: most cards were not referred and need no entry.
CREATE INDEX customers_source ON customers (source_customer_id, id)
    WHERE source_customer_id IS NOT NULL;
