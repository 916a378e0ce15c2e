-- Time and fairness: cron schedules and their runs, job deadlines and concurrency keys, queue and
-- tenant weights and limits.
ALTER TABLE jobs ADD COLUMN deadline bigint;
ALTER TABLE jobs ADD COLUMN concurrency_key text COLLATE "C";
-- Most jobs with this job's concurrency_key running at once (null: 1 when a key is set).
ALTER TABLE jobs ADD COLUMN concurrency_limit integer;
-- The deadline sweep reads only jobs that have not started and carry a deadline.
CREATE INDEX jobs_deadline ON jobs (deadline) WHERE deadline IS NOT NULL AND status IN ('blocked', 'scheduled', 'pending');
-- Oldest ready jobs of a queue: the dispatcher reads this head too, so an aged low-priority job is
-- seen however many higher-priority jobs wait in front of it in jobs_ready.
CREATE INDEX jobs_ready_age ON jobs (tenant, queue, run_at, id) WHERE status = 'pending';
-- Counting jobs that hold a slot per key (concurrency limits at claim time).
CREATE INDEX jobs_leased_key ON jobs (tenant, concurrency_key) WHERE concurrency_key IS NOT NULL AND status IN ('assigned', 'running');
CREATE INDEX jobs_leased_queue ON jobs (tenant, queue) WHERE status IN ('assigned', 'running');

ALTER TABLE queues ADD COLUMN weight double precision NOT NULL DEFAULT 1;
ALTER TABLE queues ADD COLUMN concurrency_limit integer;
ALTER TABLE tenants ADD COLUMN weight double precision NOT NULL DEFAULT 1;

CREATE TABLE schedules (
  id               text COLLATE "C" PRIMARY KEY,
  tenant           text COLLATE "C" NOT NULL,
  name             text COLLATE "C" NOT NULL,
  cron             text NOT NULL,
  timezone         text NOT NULL,
  -- The normalised ScheduleSpec (job, policies, window).
  spec             jsonb NOT NULL,
  paused           boolean NOT NULL DEFAULT false,
  next_fire_at     bigint,
  last_fire_at     bigint,
  -- Fires at or before this instant are never made (creation or last resume).
  since            bigint NOT NULL,
  executions       bigint NOT NULL DEFAULT 0,
  created_at       bigint NOT NULL,
  updated_at       bigint NOT NULL
);
CREATE UNIQUE INDEX schedules_tenant_name ON schedules (tenant, name);
CREATE INDEX schedules_due ON schedules (next_fire_at) WHERE NOT paused AND next_fire_at IS NOT NULL;

-- One row per fire: the (schedule, fire time) key makes a tick fire once however many servers run.
CREATE TABLE schedule_runs (
  schedule_id  text COLLATE "C" NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
  fire_at      bigint NOT NULL,
  tenant       text COLLATE "C" NOT NULL,
  job_id       text COLLATE "C",
  -- started | queued | skipped | cancelled_previous | triggered
  decision     text NOT NULL,
  created_at   bigint NOT NULL,
  PRIMARY KEY (schedule_id, fire_at)
);
CREATE INDEX schedule_runs_job ON schedule_runs (job_id) WHERE job_id IS NOT NULL;
