-- Workflows: dependencies between jobs (graphs), compensation jobs, templates, deduplication.
ALTER TABLE jobs ADD COLUMN graph_id TEXT;
-- Highest priority of the blocked jobs waiting on this one (0: none); the ready order uses the
-- larger of it and the job's own priority, so a blocked urgent child pulls its parents forward.
ALTER TABLE jobs ADD COLUMN inherited_priority INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN unique_key TEXT;
-- The job's ref in the batch that created it (how its children name it).
ALTER TABLE jobs ADD COLUMN ref TEXT;
ALTER TABLE jobs ADD COLUMN template TEXT;

DROP INDEX jobs_ready;
CREATE INDEX jobs_ready ON jobs (tenant, queue, max(priority, inherited_priority) DESC, run_at, created_at, id) WHERE status = 'pending';
CREATE INDEX jobs_graph ON jobs (graph_id) WHERE graph_id IS NOT NULL;
CREATE INDEX jobs_unique_key ON jobs (tenant, unique_key) WHERE unique_key IS NOT NULL;
CREATE INDEX jobs_tenant_template_id ON jobs (tenant, template, id) WHERE template IS NOT NULL;

-- child waits on parent; `on` is success | completion | failure; parent_ref is how the child
-- names the parent in placeholders (its ref in the batch; null when named by id).
CREATE TABLE job_deps (
  child_id    TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  parent_id   TEXT NOT NULL,
  on_cond     TEXT NOT NULL,
  parent_ref  TEXT,
  tenant      TEXT NOT NULL,
  PRIMARY KEY (child_id, parent_id)
) WITHOUT ROWID;
CREATE INDEX job_deps_parent ON job_deps (parent_id, child_id);

-- Compensation job specs: per job (fires when it fails) and per graph (fires when any of its
-- jobs fails). created_job_id is set by compare-and-set, so each fires once.
CREATE TABLE job_on_failure (
  job_id          TEXT PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
  tenant          TEXT NOT NULL,
  spec            TEXT NOT NULL,
  created_job_id  TEXT
) WITHOUT ROWID;
CREATE TABLE graph_on_failure (
  graph_id        TEXT PRIMARY KEY,
  tenant          TEXT NOT NULL,
  spec            TEXT NOT NULL,
  created_job_id  TEXT
) WITHOUT ROWID;

CREATE TABLE templates (
  tenant         TEXT NOT NULL,
  name           TEXT NOT NULL,
  version        INTEGER NOT NULL,
  description    TEXT,
  spec           TEXT NOT NULL,
  params_schema  TEXT NOT NULL,
  created_at     INTEGER NOT NULL,
  PRIMARY KEY (tenant, name, version)
) WITHOUT ROWID;
