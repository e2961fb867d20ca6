-- The list's text search (`q`, a substring of name, company, email or phone)
-- read every card when few matched: 0.2-1 s at 600,000 cards. A trigram index
-- of `customers.search_text` finds the cards holding a substring of three
-- characters or more (`db::customer_list`); shorter terms still scan.
-- The index keeps only which cards hold each trigram: no text (contentless;
-- the text stays in `customers`), no positions (detail none, a fraction of
-- the writes per card). So it answers "holds every trigram of the term", more
-- cards than "holds the term"; the list's LIKE keeps the exact ones.
-- A migration that rebuilds `customers` must create these triggers again.
CREATE VIRTUAL TABLE customers_search USING fts5(
    search_text, tokenize = 'trigram', content = '', contentless_delete = 1, detail = none
);
INSERT INTO customers_search (rowid, search_text) SELECT id, search_text FROM customers;
CREATE TRIGGER customers_search_insert AFTER INSERT ON customers BEGIN
    INSERT INTO customers_search (rowid, search_text) VALUES (new.id, new.search_text);
END;
CREATE TRIGGER customers_search_update AFTER UPDATE OF search_text ON customers
WHEN old.search_text IS NOT new.search_text BEGIN
    DELETE FROM customers_search WHERE rowid = old.id;
    INSERT INTO customers_search (rowid, search_text) VALUES (new.id, new.search_text);
END;
CREATE TRIGGER customers_search_delete AFTER DELETE ON customers BEGIN
    DELETE FROM customers_search WHERE rowid = old.id;
END;
