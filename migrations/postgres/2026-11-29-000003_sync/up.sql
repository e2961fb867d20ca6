-- Idempotency keys (issue #6): one row per (user, key). `status` is NULL while
-- the first request is in flight; then it holds the stored response. The
-- request hash tells a retry (same body) from a misuse (different body).
CREATE TABLE idempotency_keys (
    user_id BIGINT NOT NULL,
    idem_key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status INTEGER,
    headers TEXT NOT NULL DEFAULT '[]',
    body TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, idem_key)
);
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);
