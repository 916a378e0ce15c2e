-- Cheaper hot paths (issue 6). Every job passes through each index below at least twice (in and
-- out), so each costs CPU on every insert, assignment and report.
--
-- The ready heads are read every dispatch round, two index walks per queue; with the job type
-- and the priority columns in the index, a walk that reads ids and ranks no longer visits the
-- table row of each head (COVERING INDEX): the type filter and the rank come from the index.
DROP INDEX jobs_ready;
CREATE INDEX jobs_ready ON jobs (tenant, queue, max(priority, inherited_priority) DESC, run_at, created_at, id, type, priority, inherited_priority) WHERE status = 'pending';
DROP INDEX jobs_ready_age;
CREATE INDEX jobs_ready_age ON jobs (tenant, queue, run_at, id, type, priority, inherited_priority) WHERE status = 'pending';
-- One index of leased jobs instead of two: the reaper walks jobs_leased_queue (the leased jobs,
-- as many as the workers' slots, not the backlog) once per interval, where jobs_leased cost an
-- index write on every assignment, every end of an attempt and every lease extension.
DROP INDEX jobs_leased;
