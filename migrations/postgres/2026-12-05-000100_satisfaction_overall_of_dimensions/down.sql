-- The earlier overall values are not kept: nothing to undo.
SELECT 1;
