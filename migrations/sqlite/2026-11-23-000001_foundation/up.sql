CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    email TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    active BOOLEAN NOT NULL DEFAULT 1,
    token_generation BIGINT NOT NULL DEFAULT 0,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE customers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    company TEXT,
    email TEXT,
    phone TEXT,
    address TEXT,
    region TEXT,
    birthday DATE,
    gender TEXT,
    age_band TEXT,
    income_band TEXT,
    occupation TEXT,
    education TEXT,
    industry TEXT,
    products TEXT,
    employees BIGINT,
    annual_revenue_cents BIGINT,
    owner_id BIGINT NOT NULL REFERENCES users(id),
    external_id TEXT UNIQUE,
    acquisition_source TEXT,
    source_customer_id BIGINT REFERENCES customers(id),
    personality_type TEXT,
    social_style TEXT,
    funnel_stage TEXT NOT NULL DEFAULT 'lead',
    prospect_grade TEXT,
    wallet_size_cents BIGINT,
    currency TEXT NOT NULL DEFAULT 'CNY',
    notes TEXT,
    search_text TEXT NOT NULL DEFAULT '',
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    archived_at TIMESTAMP
);
CREATE INDEX customers_owner ON customers (owner_id, id);
CREATE INDEX customers_updated ON customers (updated_at, id);
CREATE INDEX customers_created ON customers (created_at, id);
CREATE INDEX customers_name ON customers (name, id);
CREATE INDEX customers_funnel ON customers (funnel_stage, id);

CREATE TABLE customer_tags (
    customer_id BIGINT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    tag TEXT NOT NULL,
    PRIMARY KEY (customer_id, tag)
);
CREATE INDEX customer_tags_tag ON customer_tags (tag, customer_id);

CREATE TABLE contacts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    title TEXT,
    email TEXT,
    phone TEXT,
    notes TEXT,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX contacts_customer ON contacts (customer_id, id);
