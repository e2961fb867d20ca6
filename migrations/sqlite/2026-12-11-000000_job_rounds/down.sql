DROP TABLE job_rounds;
