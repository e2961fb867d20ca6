-- A replay from the oldest retained change (`POST /webhooks/{id}/replay
-- {"after": null}`) covers the changes through the feed's head when it was
-- asked. The purge may take some of them before the subscription reaches
-- them: they were not retained, and it reads on from the oldest still
-- there. A purge past a later change (made after the replay) is a gap, and
-- stops the subscription as for any other (`webhook_worker`). NULL: no such
-- replay.
ALTER TABLE webhooks ADD COLUMN replay_through_seq BIGINT;
ALTER TABLE webhooks ADD COLUMN replay_through_id BIGINT;
