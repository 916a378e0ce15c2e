-- Baton's embedded schema, version 1. Every row carries its tenant; times are INTEGER epoch ms;
-- JSON values are TEXT. Job ids are UUIDv7 strings (time-ordered), so "newest first" is id DESC.

CREATE TABLE tenants (
  id          TEXT PRIMARY KEY,
  name        TEXT NOT NULL,
  created_at  INTEGER NOT NULL
);

CREATE TABLE tokens (
  id            TEXT PRIMARY KEY,
  tenant        TEXT NOT NULL,
  name          TEXT NOT NULL,
  role          TEXT NOT NULL,
  system        INTEGER NOT NULL DEFAULT 0,
  secret_hash   TEXT NOT NULL,
  created_at    INTEGER NOT NULL,
  last_used_at  INTEGER
);
CREATE UNIQUE INDEX tokens_tenant_name ON tokens (tenant, name);
CREATE INDEX tokens_system ON tokens (system) WHERE system = 1;

CREATE TABLE queues (
  tenant      TEXT NOT NULL,
  name        TEXT NOT NULL,
  paused      INTEGER NOT NULL DEFAULT 0,
  created_at  INTEGER NOT NULL,
  PRIMARY KEY (tenant, name)
) WITHOUT ROWID;

CREATE TABLE jobs (
  id                TEXT PRIMARY KEY,
  tenant            TEXT NOT NULL,
  type              TEXT NOT NULL,
  name              TEXT,
  queue             TEXT NOT NULL,
  priority          INTEGER NOT NULL,
  status            TEXT NOT NULL,
  run_at            INTEGER NOT NULL,
  max_retries       INTEGER NOT NULL,
  timeout_ms        INTEGER,
  idempotency_key   TEXT,
  payload           TEXT NOT NULL,
  backoff           TEXT NOT NULL,
  requirements      TEXT NOT NULL,
  tags              TEXT NOT NULL,
  metadata          TEXT NOT NULL,
  attempt           INTEGER NOT NULL DEFAULT 0,
  attempt_base      INTEGER NOT NULL DEFAULT 0,
  lease_token       TEXT,
  lease_expires_at  INTEGER,
  worker_id         TEXT,
  progress          REAL,
  result            TEXT,
  error             TEXT,
  reason            TEXT,
  created_at        INTEGER NOT NULL,
  updated_at        INTEGER NOT NULL,
  started_at        INTEGER,
  completed_at      INTEGER
);
-- Listing newest first within a tenant, optionally by status.
CREATE INDEX jobs_tenant_id ON jobs (tenant, id);
CREATE INDEX jobs_tenant_status_id ON jobs (tenant, status, id);
CREATE INDEX jobs_tenant_queue_id ON jobs (tenant, queue, id);
-- Hot paths: each partial index holds only the jobs in that state, so their cost does not grow
-- with the number of finished jobs.
CREATE INDEX jobs_ready ON jobs (tenant, queue, priority DESC, run_at, created_at, id) WHERE status = 'pending';
CREATE INDEX jobs_scheduled ON jobs (run_at) WHERE status = 'scheduled';
CREATE INDEX jobs_leased ON jobs (lease_expires_at) WHERE status IN ('assigned', 'running');
CREATE UNIQUE INDEX jobs_idempotency ON jobs (tenant, idempotency_key) WHERE idempotency_key IS NOT NULL;

CREATE TABLE job_tags (
  job_id  TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  tag     TEXT NOT NULL,
  tenant  TEXT NOT NULL,
  PRIMARY KEY (job_id, tag)
) WITHOUT ROWID;
CREATE INDEX job_tags_tenant_tag ON job_tags (tenant, tag, job_id);

CREATE TABLE job_attempts (
  job_id       TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  attempt      INTEGER NOT NULL,
  tenant       TEXT NOT NULL,
  worker_id    TEXT NOT NULL,
  -- Internal: the lease token of this attempt, so a late log of a finished attempt can still be
  -- fenced after the job's own lease columns were cleared.
  lease_token  TEXT NOT NULL,
  status       TEXT NOT NULL,
  assigned_at  INTEGER NOT NULL,
  started_at   INTEGER,
  ended_at     INTEGER,
  exit_code    INTEGER,
  error        TEXT,
  PRIMARY KEY (job_id, attempt)
) WITHOUT ROWID;

CREATE TABLE job_logs (
  id       INTEGER PRIMARY KEY AUTOINCREMENT,
  job_id   TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  tenant   TEXT NOT NULL,
  attempt  INTEGER NOT NULL,
  -- The worker's per-attempt sequence number: only used to ignore a resent chunk.
  seq      INTEGER NOT NULL,
  stream   TEXT NOT NULL,
  at       INTEGER NOT NULL,
  data     TEXT NOT NULL,
  UNIQUE (job_id, attempt, seq)
);
CREATE INDEX job_logs_job_id ON job_logs (job_id, id);

CREATE TABLE workers (
  id             TEXT PRIMARY KEY,
  tenant         TEXT NOT NULL,
  name           TEXT NOT NULL,
  host           TEXT NOT NULL,
  types          TEXT NOT NULL,
  handlers       TEXT NOT NULL,
  queues         TEXT NOT NULL,
  labels         TEXT NOT NULL,
  capacity       INTEGER NOT NULL,
  cpu            REAL NOT NULL,
  memory_mb      INTEGER NOT NULL,
  region         TEXT,
  zone           TEXT,
  status         TEXT NOT NULL,
  registered_at  INTEGER NOT NULL,
  last_seen_at   INTEGER NOT NULL
);
CREATE INDEX workers_tenant ON workers (tenant, id);

CREATE TABLE audit (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  tenant       TEXT NOT NULL,
  actor        TEXT NOT NULL,
  actor_role   TEXT NOT NULL,
  action       TEXT NOT NULL,
  target_type  TEXT NOT NULL,
  target_id    TEXT,
  at           INTEGER NOT NULL,
  detail       TEXT
);
CREATE INDEX audit_tenant_id ON audit (tenant, id);
