ALTER TABLE customers DROP COLUMN cpr_window_months;
