DROP TABLE webhook_deliveries;
DROP TABLE webhooks;
DROP TABLE change_counter;
DROP TABLE changes;
