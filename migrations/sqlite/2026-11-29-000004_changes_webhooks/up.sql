-- Change feed: one row per create, update, delete or restore, written in the
-- same transaction as the change. `seq` stays NULL until just before COMMIT,
-- when the writer takes the next number from change_counter (its row lock is
-- held until COMMIT, so numbers are handed out in commit order). Readers
-- order by (seq, id) and only ever see rows that have a seq.
CREATE TABLE changes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    seq BIGINT,
    entity_type TEXT NOT NULL,
    entity_id BIGINT NOT NULL,
    operation TEXT NOT NULL,
    version BIGINT NOT NULL,
    at TIMESTAMP NOT NULL,
    data TEXT
);
CREATE INDEX changes_order ON changes (seq, id);
CREATE INDEX changes_pending ON changes (id) WHERE seq IS NULL;
CREATE INDEX changes_entity ON changes (entity_type, entity_id);
CREATE INDEX changes_at ON changes (at);

-- One row: the last commit number handed out, and the newest position the
-- retention purge removed (a cursor at or before it is expired: 410).
CREATE TABLE change_counter (
    id BIGINT PRIMARY KEY,
    last BIGINT NOT NULL,
    purged_seq BIGINT NOT NULL DEFAULT 0,
    purged_id BIGINT NOT NULL DEFAULT 0
);
INSERT INTO change_counter (id, last, purged_seq, purged_id) VALUES (1, 0, 0, 0);

-- Webhook subscriptions; the delivery state (position, failures, lease)
-- lives on the row so it survives restarts and is shared by processes.
CREATE TABLE webhooks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    url TEXT NOT NULL,
    events TEXT NOT NULL,
    secret TEXT NOT NULL,
    active BOOLEAN NOT NULL,
    description TEXT,
    cursor_seq BIGINT NOT NULL DEFAULT 0,
    cursor_id BIGINT NOT NULL DEFAULT 0,
    failures BIGINT NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP,
    disabled_reason TEXT,
    lease_owner TEXT,
    lease_until TIMESTAMP,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE webhook_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id BIGINT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    change_id BIGINT NOT NULL,
    event TEXT NOT NULL,
    attempt BIGINT NOT NULL,
    outcome TEXT NOT NULL,
    http_status BIGINT,
    error TEXT,
    duration_ms BIGINT NOT NULL,
    at TIMESTAMP NOT NULL
);
CREATE INDEX webhook_deliveries_by_hook ON webhook_deliveries (webhook_id, id);
