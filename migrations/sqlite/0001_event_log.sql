-- The global event log: one row per event, `position` dense and in commit order.
CREATE TABLE IF NOT EXISTS events (
    position       INTEGER PRIMARY KEY,
    event_id       TEXT    NOT NULL UNIQUE,
    stream_type    TEXT    NOT NULL,
    stream_id      TEXT    NOT NULL,
    version        INTEGER NOT NULL,
    event_type     TEXT    NOT NULL,
    payload        TEXT    NOT NULL,
    tenant_id      TEXT,
    actor_id       TEXT,
    correlation_id TEXT    NOT NULL,
    causation_id   TEXT,
    recorded_at    TEXT    NOT NULL,
    UNIQUE (stream_id, version)
);

-- Read models: documents keyed per model, with the checkpoint of each model.
CREATE TABLE IF NOT EXISTS read_model_docs (
    model     TEXT NOT NULL,
    key       TEXT NOT NULL,
    tenant_id TEXT,
    doc       TEXT NOT NULL,
    PRIMARY KEY (model, key)
);

CREATE TABLE IF NOT EXISTS read_model_checkpoints (
    model    TEXT PRIMARY KEY,
    position INTEGER NOT NULL
);
