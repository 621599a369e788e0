-- Table read models: call records and the audit log in indexed tables of their own (ADR 0014).
-- Each row keeps the model's document (`doc`) beside the columns its queries filter on; times are
-- microseconds since the Unix epoch. `*_rebuild` tables receive `callcore replay`'s rebuild.

CREATE TABLE IF NOT EXISTS call_records (
    key        TEXT    PRIMARY KEY,
    tenant_id  TEXT,
    doc        TEXT    NOT NULL,
    started_us INTEGER NOT NULL,
    direction  TEXT    NOT NULL,
    status     TEXT    NOT NULL,
    caller     TEXT    NOT NULL,
    called     TEXT    NOT NULL,
    extension  TEXT,
    route_id   TEXT,
    queue_id   TEXT,
    recorded   INTEGER NOT NULL
);
-- The time indexes carry the kind and result too, so a count within a time range reads the index only.
CREATE INDEX IF NOT EXISTS call_records_by_tenant_time ON call_records (tenant_id, started_us, direction, status, key);
CREATE INDEX IF NOT EXISTS call_records_by_time ON call_records (started_us, direction, status, key);
CREATE INDEX IF NOT EXISTS call_records_in_progress ON call_records (key) WHERE status = 'in_progress';

CREATE TABLE IF NOT EXISTS call_records_rebuild (
    key        TEXT    PRIMARY KEY,
    tenant_id  TEXT,
    doc        TEXT    NOT NULL,
    started_us INTEGER NOT NULL,
    direction  TEXT    NOT NULL,
    status     TEXT    NOT NULL,
    caller     TEXT    NOT NULL,
    called     TEXT    NOT NULL,
    extension  TEXT,
    route_id   TEXT,
    queue_id   TEXT,
    recorded   INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS audit_log (
    key         TEXT    PRIMARY KEY,
    tenant_id   TEXT,
    doc         TEXT    NOT NULL,
    position    INTEGER NOT NULL,
    at_us       INTEGER NOT NULL,
    actor_id    TEXT    NOT NULL,
    stream_type TEXT    NOT NULL,
    stream_id   TEXT    NOT NULL,
    event_type  TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_log_by_tenant ON audit_log (tenant_id, position);
CREATE INDEX IF NOT EXISTS audit_log_by_position ON audit_log (position);
CREATE INDEX IF NOT EXISTS audit_log_by_actor ON audit_log (actor_id, position);
CREATE INDEX IF NOT EXISTS audit_log_by_stream ON audit_log (stream_id, position);

CREATE TABLE IF NOT EXISTS audit_log_rebuild (
    key         TEXT    PRIMARY KEY,
    tenant_id   TEXT,
    doc         TEXT    NOT NULL,
    position    INTEGER NOT NULL,
    at_us       INTEGER NOT NULL,
    actor_id    TEXT    NOT NULL,
    stream_type TEXT    NOT NULL,
    stream_id   TEXT    NOT NULL,
    event_type  TEXT    NOT NULL
);

-- These models were documents until now: they are rebuilt into their tables from position 0.
DELETE FROM read_model_docs WHERE model IN ('call_records', 'audit_log');
DELETE FROM read_model_checkpoints WHERE model IN ('call_records', 'audit_log');
