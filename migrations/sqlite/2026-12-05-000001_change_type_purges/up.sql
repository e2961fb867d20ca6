-- The newest position the retention purge removed, per entity type: a cursor
-- read with `types` is expired only when a change of one of those types was
-- purged after it, so a cursor kept for a rare type no longer ages with the
-- whole feed (change_counter keeps the position over all types).
CREATE TABLE change_type_purges (
    entity_type TEXT PRIMARY KEY,
    purged_seq BIGINT NOT NULL,
    purged_id BIGINT NOT NULL
);
-- Purges before this table kept only the position over all types: each type
-- of the feed then starts from it (a type added later had no changes then).
INSERT INTO change_type_purges (entity_type, purged_seq, purged_id)
SELECT t.entity_type, c.purged_seq, c.purged_id
FROM change_counter c,
     (SELECT 'customer' AS entity_type UNION ALL SELECT 'contact'
      UNION ALL SELECT 'interaction' UNION ALL SELECT 'transaction'
      UNION ALL SELECT 'need' UNION ALL SELECT 'stage_change'
      UNION ALL SELECT 'survey' UNION ALL SELECT 'survey_response'
      UNION ALL SELECT 'account_plan') t
WHERE c.id = 1 AND c.purged_seq > 0;
-- One type's changes in feed order: a typed read walks only its types'
-- changes, however many of other types lie between.
CREATE INDEX changes_type_order ON changes (entity_type, seq, id);
