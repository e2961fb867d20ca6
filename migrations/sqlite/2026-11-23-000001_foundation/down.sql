DROP TABLE contacts;
DROP TABLE customer_tags;
DROP TABLE customers;
DROP TABLE users;
