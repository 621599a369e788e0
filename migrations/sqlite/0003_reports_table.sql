-- The reports' counters in a table of their own (ADR 0014): one row per queue hour and per
-- seat hour, plus the working rows that follow a queued caller and a seat's current state.
-- Written by the one node holding the table models' lease, so counts are made once per
-- cluster. `kind` is queue_hour, agent_hour, queued or seat; `hour_us` is the hour's start
-- (microseconds since the Unix epoch) for the hours.

CREATE TABLE IF NOT EXISTS reports (
    key        TEXT    PRIMARY KEY,
    tenant_id  TEXT,
    doc        TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    subject_id TEXT    NOT NULL,
    hour_us    INTEGER
);
CREATE INDEX IF NOT EXISTS reports_by_tenant_hour ON reports (tenant_id, kind, hour_us);

CREATE TABLE IF NOT EXISTS reports_rebuild (
    key        TEXT    PRIMARY KEY,
    tenant_id  TEXT,
    doc        TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    subject_id TEXT    NOT NULL,
    hour_us    INTEGER
);

-- The reports were documents until now: they are rebuilt into their table from position 0.
DELETE FROM read_model_docs WHERE model = 'reports';
DELETE FROM read_model_checkpoints WHERE model = 'reports';
