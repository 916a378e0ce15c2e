-- Baton's PostgreSQL schema, version 1: the same tables as the SQLite store, in the schema the
-- store was opened with (search_path). Times are bigint epoch ms; JSON values are jsonb (SQL NULL
-- means the value null). Keys that lists are ordered by use COLLATE "C", so the order is the
-- byte order SQLite and the core's compareReady use, whatever the database's locale.

CREATE TABLE tenants (
  id          text COLLATE "C" PRIMARY KEY,
  name        text NOT NULL,
  created_at  bigint NOT NULL
);

CREATE TABLE tokens (
  id            text COLLATE "C" PRIMARY KEY,
  tenant        text COLLATE "C" NOT NULL,
  name          text NOT NULL,
  role          text NOT NULL,
  system        boolean NOT NULL DEFAULT false,
  secret_hash   text NOT NULL,
  created_at    bigint NOT NULL,
  last_used_at  bigint
);
CREATE UNIQUE INDEX tokens_tenant_name ON tokens (tenant, name);
CREATE INDEX tokens_system ON tokens (system) WHERE system;

CREATE TABLE queues (
  tenant      text COLLATE "C" NOT NULL,
  name        text COLLATE "C" NOT NULL,
  paused      boolean NOT NULL DEFAULT false,
  created_at  bigint NOT NULL,
  PRIMARY KEY (tenant, name)
);

CREATE TABLE jobs (
  id                text COLLATE "C" PRIMARY KEY,
  tenant            text COLLATE "C" NOT NULL,
  type              text NOT NULL,
  name              text,
  queue             text COLLATE "C" NOT NULL,
  priority          integer NOT NULL,
  status            text NOT NULL,
  run_at            bigint NOT NULL,
  max_retries       integer NOT NULL,
  timeout_ms        bigint,
  idempotency_key   text,
  payload           jsonb NOT NULL,
  backoff           jsonb NOT NULL,
  requirements      jsonb NOT NULL,
  tags              jsonb NOT NULL,
  metadata          jsonb NOT NULL,
  attempt           integer NOT NULL DEFAULT 0,
  attempt_base      integer NOT NULL DEFAULT 0,
  lease_token       text,
  lease_expires_at  bigint,
  worker_id         text,
  progress          double precision,
  result            jsonb,
  error             jsonb,
  reason            text,
  created_at        bigint NOT NULL,
  updated_at        bigint NOT NULL,
  started_at        bigint,
  completed_at      bigint
);
-- Listing newest first within a tenant, optionally by status or queue.
CREATE INDEX jobs_tenant_id ON jobs (tenant, id);
CREATE INDEX jobs_tenant_status_id ON jobs (tenant, status, id);
CREATE INDEX jobs_tenant_queue_id ON jobs (tenant, queue, id);
-- Hot paths: each partial index holds only the jobs in that state, so its cost does not grow
-- with the number of finished jobs.
CREATE INDEX jobs_ready ON jobs (tenant, queue, priority DESC, run_at, created_at, id) WHERE status = 'pending';
CREATE INDEX jobs_scheduled ON jobs (run_at) WHERE status = 'scheduled';
CREATE INDEX jobs_leased ON jobs (lease_expires_at) WHERE status IN ('assigned', 'running');
CREATE UNIQUE INDEX jobs_idempotency ON jobs (tenant, idempotency_key) WHERE idempotency_key IS NOT NULL;

CREATE TABLE job_tags (
  job_id  text COLLATE "C" NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  tag     text COLLATE "C" NOT NULL,
  tenant  text COLLATE "C" NOT NULL,
  PRIMARY KEY (job_id, tag)
);
CREATE INDEX job_tags_tenant_tag ON job_tags (tenant, tag, job_id);

CREATE TABLE job_attempts (
  job_id       text COLLATE "C" NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  attempt      integer NOT NULL,
  tenant       text COLLATE "C" NOT NULL,
  worker_id    text NOT NULL,
  -- Internal: the lease token of this attempt, so a late log of a finished attempt can still be
  -- fenced after the job's own lease columns were cleared.
  lease_token  text NOT NULL,
  status       text NOT NULL,
  assigned_at  bigint NOT NULL,
  started_at   bigint,
  ended_at     bigint,
  exit_code    integer,
  error        jsonb,
  PRIMARY KEY (job_id, attempt)
);

CREATE TABLE job_logs (
  id       bigserial PRIMARY KEY,
  job_id   text COLLATE "C" NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  tenant   text COLLATE "C" NOT NULL,
  attempt  integer NOT NULL,
  -- The worker's per-attempt sequence number: only used to ignore a resent chunk.
  seq      bigint NOT NULL,
  stream   text NOT NULL,
  at       bigint NOT NULL,
  data     text NOT NULL,
  UNIQUE (job_id, attempt, seq)
);
CREATE INDEX job_logs_job_id ON job_logs (job_id, id);

CREATE TABLE workers (
  id             text COLLATE "C" PRIMARY KEY,
  tenant         text COLLATE "C" NOT NULL,
  name           text NOT NULL,
  host           text NOT NULL,
  types          jsonb NOT NULL,
  handlers       jsonb NOT NULL,
  queues         jsonb NOT NULL,
  labels         jsonb NOT NULL,
  capacity       integer NOT NULL,
  cpu            double precision NOT NULL,
  memory_mb      bigint NOT NULL,
  region         text,
  zone           text,
  status         text NOT NULL,
  registered_at  bigint NOT NULL,
  last_seen_at   bigint NOT NULL
);
CREATE INDEX workers_tenant ON workers (tenant, id);

CREATE TABLE audit (
  id           bigserial PRIMARY KEY,
  tenant       text COLLATE "C" NOT NULL,
  actor        text NOT NULL,
  actor_role   text NOT NULL,
  action       text NOT NULL,
  target_type  text NOT NULL,
  target_id    text,
  at           bigint NOT NULL,
  detail       jsonb
);
CREATE INDEX audit_tenant_id ON audit (tenant, id);
