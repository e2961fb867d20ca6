-- A subscription replayed from the oldest retained change (`POST
-- /webhooks/{id}/replay {"after": null}`) until it has caught up with the
-- feed's head. The purge may take changes it has not reached meanwhile:
-- they were not retained, and it reads on from the oldest still there,
-- where any other subscription behind the purge is stopped (it missed
-- changes it was following). `webhook_worker`.
ALTER TABLE webhooks ADD COLUMN from_oldest BOOLEAN NOT NULL DEFAULT 0;
