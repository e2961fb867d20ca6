-- The window (months) a card's CPR window revenue and share of wallet were
-- computed over, written with them (db::cpr): GET /customers/{id}/cpr
-- reported the settings' window beside figures of the window before a
-- change until the recompute reached the card (an outside review: a
-- 12 -> 6 change showed 12 months of revenue as 6 months'). Null until a
-- refresh writes figures other than zero (a new card): zero revenue is
-- every window's, and the settings' window is reported. The cards with
-- window revenue here take the stored settings' window, the one the last
-- completed recompute applied.
ALTER TABLE customers ADD COLUMN cpr_window_months INTEGER;
UPDATE customers SET cpr_window_months = COALESCE(
    (SELECT CAST(CAST(value AS json)->>'window_months' AS INTEGER) FROM settings WHERE name = 'cpr'), 12)
  WHERE cpr_revenue_window_cents <> 0;
