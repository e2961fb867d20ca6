DROP INDEX changes_type_order;
DROP TABLE change_type_purges;
