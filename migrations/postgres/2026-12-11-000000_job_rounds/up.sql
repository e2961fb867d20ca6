-- When the last round of each of the service's own periodic jobs started
-- and finished, anywhere on this database ("recompute": the window move and
-- the CPR and loyalty recomputes, `jobs::spawn`). Every process ran every
-- round: N replicas walked every card N times a period, and a rolling
-- restart N times in a row. A process now runs a round only when its
-- conditional UPDATE of this row claims it (`db::job_rounds::claim`).
-- `patron_version` is the build that claimed it (the package version and a
-- hash of the sources and migrations, build.rs): the first start of another
-- build walks anyway, as its code may compute the cards' figures differently.
CREATE TABLE job_rounds (
    name TEXT PRIMARY KEY,
    started_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP,
    patron_version TEXT NOT NULL
);
