ALTER TABLE account_plans DROP COLUMN closed_at;
