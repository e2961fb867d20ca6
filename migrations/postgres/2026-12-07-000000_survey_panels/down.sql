DROP TABLE survey_panel;
ALTER TABLE surveys DROP COLUMN panel_frozen_at;
