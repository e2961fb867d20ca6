-- Nothing to undo: which claims were marked by this migration is not kept.
SELECT 1;
