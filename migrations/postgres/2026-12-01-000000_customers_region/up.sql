-- The customer list filtered by region (a sales territory), in id order,
-- without scanning the cards of every other region: a page of a region that
-- holds 1 % of the cards read ~5,000 cards for its 50.
CREATE INDEX customers_region ON customers (region, id);
