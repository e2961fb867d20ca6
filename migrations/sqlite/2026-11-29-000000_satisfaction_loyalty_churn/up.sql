-- Columns on the card shared by surveys (latest satisfaction), loyalty and churn.
-- Satisfaction is the latest mean on the 1-5 scale per dimension and overall.
ALTER TABLE customers ADD COLUMN satisfaction_overall REAL;
ALTER TABLE customers ADD COLUMN satisfaction_product REAL;
ALTER TABLE customers ADD COLUMN satisfaction_service REAL;
ALTER TABLE customers ADD COLUMN satisfaction_social REAL;
ALTER TABLE customers ADD COLUMN satisfaction_at TIMESTAMP;
ALTER TABLE customers ADD COLUMN loyalty_type TEXT NOT NULL DEFAULT 'unknown';
ALTER TABLE customers ADD COLUMN churned_at TIMESTAMP;
ALTER TABLE customers ADD COLUMN churn_reason TEXT;
CREATE INDEX customers_loyalty_type ON customers (loyalty_type, id);
CREATE INDEX customers_churned_at ON customers (churned_at, id);
