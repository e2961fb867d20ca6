ALTER TABLE webhooks DROP COLUMN replay_through_id;
ALTER TABLE webhooks DROP COLUMN replay_through_seq;
