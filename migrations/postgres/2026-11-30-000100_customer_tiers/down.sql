ALTER TABLE customers ADD COLUMN tier TEXT NOT NULL DEFAULT 'small';
UPDATE customers SET tier = (SELECT t.tier FROM customer_tiers t WHERE t.customer_id = customers.id)
    WHERE id IN (SELECT customer_id FROM customer_tiers);
CREATE INDEX customers_tier ON customers (tier, id);
CREATE INDEX customers_tier_totals ON customers (tier, archived_at, profit_12m_cents, id);
DROP TABLE customer_tiers;
