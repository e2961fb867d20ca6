-- When a plan was completed or cancelled (NULL while draft or active): a
-- closed plan is evaluated as of that day, so the figures a manager signed
-- off stay put as days pass. Plans closed before this column get their last
-- change's instant, the nearest the database knows.
ALTER TABLE account_plans ADD COLUMN closed_at TIMESTAMP;
UPDATE account_plans SET closed_at = updated_at WHERE status IN ('completed', 'cancelled');
