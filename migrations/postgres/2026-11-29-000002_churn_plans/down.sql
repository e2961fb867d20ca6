DROP TABLE account_plan_actions;
DROP TABLE account_plans;
DROP TABLE churn_records;
