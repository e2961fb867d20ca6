-- The delivery log is purged with the change feed's retention, by age.
CREATE INDEX webhook_deliveries_at ON webhook_deliveries (at);
