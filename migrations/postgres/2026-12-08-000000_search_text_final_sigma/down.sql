-- The folded text finds what the old one did and more: nothing to undo.
SELECT 1;
