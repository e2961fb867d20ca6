-- CPR development cycle, value tiers and segments.
ALTER TABLE customers ADD COLUMN cpr_stage TEXT NOT NULL DEFAULT 'not_started';
ALTER TABLE customers ADD COLUMN cpr_pinned BOOLEAN NOT NULL DEFAULT 0;
ALTER TABLE customers ADD COLUMN cpr_pin_reason TEXT;
ALTER TABLE customers ADD COLUMN cpr_since TIMESTAMP;
ALTER TABLE customers ADD COLUMN share_of_wallet REAL;
ALTER TABLE customers ADD COLUMN cpr_revenue_window_cents BIGINT NOT NULL DEFAULT 0;
ALTER TABLE customers ADD COLUMN tier TEXT NOT NULL DEFAULT 'small';
ALTER TABLE customers ADD COLUMN tier_profit_cents BIGINT NOT NULL DEFAULT 0;
CREATE INDEX customers_cpr_stage ON customers (cpr_stage, id);
CREATE INDEX customers_tier ON customers (tier, id);

-- Named settings (JSON documents), e.g. `cpr`, `tiers`.
CREATE TABLE settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    version BIGINT NOT NULL DEFAULT 1,
    updated_at TIMESTAMP NOT NULL,
    updated_by BIGINT REFERENCES users(id)
);

CREATE TABLE segments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    rule TEXT,
    description TEXT,
    builtin BOOLEAN NOT NULL DEFAULT 0,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE segment_members (
    segment_id BIGINT NOT NULL REFERENCES segments(id) ON DELETE CASCADE,
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    added_at TIMESTAMP NOT NULL,
    PRIMARY KEY (segment_id, customer_id)
);
CREATE INDEX segment_members_customer ON segment_members (customer_id);

-- Ready-made segments: one per tier, funnel stage and CPR stage.
INSERT INTO segments (name, kind, rule, description, builtin, version, created_at, updated_at) VALUES
('Tier: important', 'dynamic', '{"field": "tier", "op": "eq", "value": "important"}', 'Ready-made segment: tier = important', 1, 1, '2026-11-23 00:00:00', '2026-11-23 00:00:00'),
('Tier: secondary', 'dynamic', '{"field": "tier", "op": "eq", "value": "secondary"}', 'Ready-made segment: tier = secondary', 1, 1, '2026-11-23 00:00:00', '2026-11-23 00:00:00'),
('Tier: ordinary', 'dynamic', '{"field": "tier", "op": "eq", "value": "ordinary"}', 'Ready-made segment: tier = ordinary', 1, 1, '2026-11-23 00:00:00', '2026-11-23 00:00:00'),
('Tier: small', 'dynamic', '{"field": "tier", "op": "eq", "value": "small"}', 'Ready-made segment: tier = small', 1, 1, '2026-11-23 00:00:00', '2026-11-23 00:00:00'),
('Funnel stage: lead', 'dynamic', '{"field": "funnel_stage", "op": "eq", "value": "lead"}', 'Ready-made segment: funnel_stage = lead', 1, 1, '2026-11-23 00:00:00', '2026-11-23 00:00:00'),
('Funnel stage: prospect', 'dynamic', '{"field": "funnel_stage", "op": "eq", "value": "prospect"}', 'Ready-made segment: funnel_stage = prospect', 1, 1, '2026-11-23 00:00:00', '2026-11-23 00:00:00'),
('Funnel stage: ordinary', 'dynamic', '{"field": "funnel_stage", "op": "eq", "value": "ordinary"}', 'Ready-made segment: funnel_stage = ordinary', 1, 1, '2026-11-23 00:00:00', '2026-11-23 00:00:00'),
('Funnel stage: key', 'dynamic', '{"field": "funnel_stage", "op": "eq", "value": "key"}', 'Ready-made segment: funnel_stage = key', 1, 1, '2026-11-23 00:00:00', '2026-11-23 00:00:00'),
('Funnel stage: won', 'dynamic', '{"field": "funnel_stage", "op": "eq", "value": "won"}', 'Ready-made segment: funnel_stage = won', 1, 1, '2026-11-23 00:00:00', '2026-11-23 00:00:00'),
('CPR stage: not_started', 'dynamic', '{"field": "cpr_stage", "op": "eq", "value": "not_started"}', 'Ready-made segment: cpr_stage = not_started', 1, 1, '2026-11-23 00:00:00', '2026-11-23 00:00:00'),
('CPR stage: conversion', 'dynamic', '{"field": "cpr_stage", "op": "eq", "value": "conversion"}', 'Ready-made segment: cpr_stage = conversion', 1, 1, '2026-11-23 00:00:00', '2026-11-23 00:00:00'),
('CPR stage: penetration', 'dynamic', '{"field": "cpr_stage", "op": "eq", "value": "penetration"}', 'Ready-made segment: cpr_stage = penetration', 1, 1, '2026-11-23 00:00:00', '2026-11-23 00:00:00'),
('CPR stage: retention', 'dynamic', '{"field": "cpr_stage", "op": "eq", "value": "retention"}', 'Ready-made segment: cpr_stage = retention', 1, 1, '2026-11-23 00:00:00', '2026-11-23 00:00:00');
