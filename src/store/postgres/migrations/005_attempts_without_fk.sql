-- Attempt rows without a foreign key to jobs. The key ran a trigger per inserted attempt (a lookup
-- and a KEY SHARE lock of the job row, by SPI): on the assignment hot path about 1.5 ms of every
-- 64-job batch, more than the INSERT itself. The store inserts an attempt only for a job it holds
-- locked FOR UPDATE, and deletes a job's attempts together with the job (jobBulk), which is what
-- ON DELETE CASCADE did.
ALTER TABLE job_attempts DROP CONSTRAINT IF EXISTS job_attempts_job_id_fkey;
