-- Derived figures of the card, kept current by every write of interactions
-- and transactions (and refreshed as the 12-month window moves).
ALTER TABLE customers ADD COLUMN last_contact_at TIMESTAMP;
ALTER TABLE customers ADD COLUMN purchase_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE customers ADD COLUMN first_purchase_at TIMESTAMP;
ALTER TABLE customers ADD COLUMN last_purchase_at TIMESTAMP;
ALTER TABLE customers ADD COLUMN lifetime_revenue_cents BIGINT NOT NULL DEFAULT 0;
ALTER TABLE customers ADD COLUMN lifetime_profit_cents BIGINT NOT NULL DEFAULT 0;
ALTER TABLE customers ADD COLUMN revenue_12m_cents BIGINT NOT NULL DEFAULT 0;
ALTER TABLE customers ADD COLUMN profit_12m_cents BIGINT NOT NULL DEFAULT 0;
ALTER TABLE customers ADD COLUMN open_complaints BIGINT NOT NULL DEFAULT 0;
ALTER TABLE customers ADD COLUMN stats_at TIMESTAMP;
CREATE INDEX customers_last_contact ON customers (last_contact_at, id);
CREATE INDEX customers_revenue_12m ON customers (revenue_12m_cents, id);

CREATE TABLE interactions (
    id BIGSERIAL PRIMARY KEY,
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    type TEXT NOT NULL,
    occurred_at TIMESTAMP NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users(id),
    channel TEXT,
    summary TEXT NOT NULL,
    outcome TEXT,
    follow_up_at TIMESTAMP,
    follow_up_done_at TIMESTAMP,
    complaint_status TEXT,
    resolved_at TIMESTAMP,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX interactions_customer ON interactions (customer_id, occurred_at, id);
CREATE INDEX interactions_occurred ON interactions (occurred_at, id);
CREATE INDEX interactions_follow_up ON interactions (follow_up_at, id) WHERE follow_up_done_at IS NULL AND follow_up_at IS NOT NULL;
CREATE INDEX interactions_user_follow_up ON interactions (user_id, follow_up_at, id) WHERE follow_up_done_at IS NULL AND follow_up_at IS NOT NULL;

CREATE TABLE transactions (
    id BIGSERIAL PRIMARY KEY,
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    occurred_at TIMESTAMP NOT NULL,
    amount_cents BIGINT NOT NULL,
    cost_cents BIGINT NOT NULL,
    currency TEXT NOT NULL,
    product TEXT NOT NULL,
    external_id TEXT UNIQUE,
    notes TEXT,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX transactions_customer ON transactions (customer_id, occurred_at, id);
CREATE INDEX transactions_occurred ON transactions (occurred_at, id);
CREATE INDEX transactions_product ON transactions (product, occurred_at);

CREATE TABLE needs (
    id BIGSERIAL PRIMARY KEY,
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    kind TEXT NOT NULL,
    latent_type TEXT,
    description TEXT NOT NULL,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX needs_customer ON needs (customer_id, id);

-- The history of a customer: funnel stage and grade changes, need
-- conversions and (later) CPR, tier, churn and survey events.
CREATE TABLE customer_events (
    id BIGSERIAL PRIMARY KEY,
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    kind TEXT NOT NULL,
    from_value TEXT,
    to_value TEXT,
    subject_id BIGINT,
    reason TEXT,
    user_id BIGINT REFERENCES users(id),
    at TIMESTAMP NOT NULL
);
CREATE INDEX customer_events_customer ON customer_events (customer_id, at, id);
CREATE INDEX customer_events_kind ON customer_events (kind, at);
