CREATE INDEX changes_pending ON changes (id) WHERE seq IS NULL;
