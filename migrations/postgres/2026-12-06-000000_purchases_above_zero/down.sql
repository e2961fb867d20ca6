-- The earlier counts are not kept (they counted refunds and free services): nothing to undo.
SELECT 1;
