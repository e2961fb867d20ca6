-- Claims left unfinished by a process older than the applied mark (no claim
-- token: every claim since has one): whether their write committed is
-- unknown, and a takeover would run it again. Counted as applied, a retry
-- hears 409 "applied, response not kept" and reads the resource instead of
-- risking a second write.
UPDATE idempotency_keys SET applied = 1 WHERE status IS NULL AND claim_token IS NULL;
