-- A survey's panel, frozen when it opens: the target segment's active
-- members at that moment (db::surveys::freeze_panel). The response rate is
-- measured against it, so neither the survey's own responses (which change
-- the satisfaction and loyalty a dynamic rule may test) nor a later edit of
-- the segment change who was asked.
--
-- `panel_frozen_at` null: no frozen panel (a draft, a survey opened without
-- a target, or one opened before this migration, whose rule this SQL cannot
-- evaluate: rules are compiled in Rust). Such a survey's rate keeps
-- following its segment as it is now.
ALTER TABLE surveys ADD COLUMN panel_frozen_at TIMESTAMP;

-- No foreign keys: the rows are written by one INSERT ... SELECT from
-- customers (never deleted) as the survey opens, and deleted with the
-- survey by db::surveys::delete; a per-row check would double the cost of
-- freezing a panel of a million cards.
CREATE TABLE survey_panel (
    survey_id BIGINT NOT NULL,
    customer_id BIGINT NOT NULL,
    PRIMARY KEY (survey_id, customer_id)
);
