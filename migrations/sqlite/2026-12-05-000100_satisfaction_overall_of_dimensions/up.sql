-- Overall satisfaction is the mean of the card's dimension values
-- (domain::surveys::overall_of); it was the latest response's own mean, so a
-- one-dimension survey could set it far from the dimensions beside it.
-- Recomputed here in integer hundredths, halves up, as the rule does
-- (values are 1–5, all positive); the next loyalty recompute (start-up,
-- hourly) follows the new values.
UPDATE customers SET satisfaction_overall = (
    2 * (COALESCE(CAST(ROUND(satisfaction_product * 100) AS BIGINT), 0)
       + COALESCE(CAST(ROUND(satisfaction_service * 100) AS BIGINT), 0)
       + COALESCE(CAST(ROUND(satisfaction_social * 100) AS BIGINT), 0))
    + (CASE WHEN satisfaction_product IS NULL THEN 0 ELSE 1 END
       + CASE WHEN satisfaction_service IS NULL THEN 0 ELSE 1 END
       + CASE WHEN satisfaction_social IS NULL THEN 0 ELSE 1 END)
  ) / (2 * (CASE WHEN satisfaction_product IS NULL THEN 0 ELSE 1 END
       + CASE WHEN satisfaction_service IS NULL THEN 0 ELSE 1 END
       + CASE WHEN satisfaction_social IS NULL THEN 0 ELSE 1 END)) / 100.0
WHERE satisfaction_product IS NOT NULL OR satisfaction_service IS NOT NULL
   OR satisfaction_social IS NOT NULL;
