-- Change rows are written once, at seal, with their commit number: no row
-- is ever without one, so the index of unsealed rows has nothing to find.
DROP INDEX changes_pending;
