ALTER TABLE customer_events ADD CONSTRAINT customer_events_customer_id_fkey
    FOREIGN KEY (customer_id) REFERENCES customers(id);
DROP INDEX customers_archived;
