-- Churn records (one per churn, closed by a win-back) and key-account plans.
CREATE TABLE churn_records (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    reason TEXT NOT NULL,
    note TEXT,
    churned_at TIMESTAMP NOT NULL,
    churned_by BIGINT REFERENCES users(id),
    -- The customer's revenue in the 12 months before the churn, fixed at that moment.
    lost_revenue_cents BIGINT NOT NULL DEFAULT 0,
    reactivated_at TIMESTAMP,
    reactivated_by BIGINT REFERENCES users(id),
    reactivation_note TEXT
);
CREATE INDEX churn_records_customer ON churn_records (customer_id, churned_at);
CREATE INDEX churn_records_churned_at ON churn_records (churned_at, reason);

CREATE TABLE account_plans (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    objective TEXT NOT NULL,
    period_start DATE NOT NULL,
    period_end DATE NOT NULL,
    budget_cents BIGINT NOT NULL,
    status TEXT NOT NULL,
    created_by BIGINT REFERENCES users(id),
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX account_plans_customer ON account_plans (customer_id, id);
CREATE INDEX account_plans_status ON account_plans (status, id);

CREATE TABLE account_plan_actions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    plan_id BIGINT NOT NULL REFERENCES account_plans(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    description TEXT,
    owner_id BIGINT NOT NULL REFERENCES users(id),
    due_date DATE NOT NULL,
    status TEXT NOT NULL,
    cost_cents BIGINT NOT NULL DEFAULT 0,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX account_plan_actions_plan ON account_plan_actions (plan_id, id);
