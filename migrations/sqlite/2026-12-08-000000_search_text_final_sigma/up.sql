-- The list's `q` folds a word-final sigma ς to σ on both sides (as segment
-- rules and the user search do): Rust lower-cases a word-final Σ to ς, so
-- "ΟΔΟΣ" as a term missed "ΟΔΟΣΤΡΩΜΑ ΑΕ" (stored with σ) and "οδοσ" missed
-- a stored "οδος". Cards written since fold on save; this folds the rest.
-- Only the search text changes, which no response shows: no new version.
UPDATE customers SET search_text = REPLACE(search_text, 'ς', 'σ')
WHERE search_text LIKE '%ς%';
