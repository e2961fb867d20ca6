-- When the last round of each of the service's own periodic jobs started
-- and finished, anywhere on this database ("recompute": the window move and
-- the CPR and loyalty recomputes, `jobs::spawn`). Every process ran every
-- round: N replicas walked every card N times a period, and a rolling
-- restart N times in a row. A process now runs a round only when its
-- conditional UPDATE of this row claims it (`db::job_rounds::claim`).
-- `patron_version` is the version that claimed it: a start-up round of
-- another version walks anyway, as its code may compute the cards' figures
-- differently. A later migration that changes what the recompute computes
-- deletes the row, so that the first start after it walks.
CREATE TABLE job_rounds (
    name TEXT PRIMARY KEY,
    started_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP,
    patron_version TEXT NOT NULL
);
