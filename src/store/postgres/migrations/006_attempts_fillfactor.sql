-- Room on each page of job_attempts for the new version of its rows. An attempt row is inserted
-- at its assignment and updated once at its end, in columns no index holds: with free room on
-- the page the update is a heap-only tuple (no new index entry, the page pruned in place);
-- on full pages (the default fill factor of 100) every end wrote a new tuple on another page
-- and a new primary-key entry. Applies to pages filled from now on.
ALTER TABLE job_attempts SET (fillfactor = 70);
