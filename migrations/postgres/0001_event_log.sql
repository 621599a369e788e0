-- The global event log: one row per event, `position` dense and in commit order.
CREATE TABLE IF NOT EXISTS events (
    position       BIGINT      PRIMARY KEY,
    event_id       UUID        NOT NULL UNIQUE,
    stream_type    TEXT        NOT NULL,
    stream_id      UUID        NOT NULL,
    version        BIGINT      NOT NULL,
    event_type     TEXT        NOT NULL,
    payload        TEXT        NOT NULL,
    tenant_id      UUID,
    actor_id       UUID,
    correlation_id UUID        NOT NULL,
    causation_id   UUID,
    recorded_at    TIMESTAMPTZ NOT NULL,
    UNIQUE (stream_id, version)
);

-- Read models: documents keyed per model, with the checkpoint of each model.
CREATE TABLE IF NOT EXISTS read_model_docs (
    model     TEXT NOT NULL,
    key       TEXT NOT NULL,
    tenant_id UUID,
    doc       TEXT NOT NULL,
    PRIMARY KEY (model, key)
);

CREATE TABLE IF NOT EXISTS read_model_checkpoints (
    model    TEXT PRIMARY KEY,
    position BIGINT NOT NULL
);
