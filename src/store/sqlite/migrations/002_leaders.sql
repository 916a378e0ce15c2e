-- Leadership of cluster-wide duties (reaper, promoter, later cron). One row per duty; `term`
-- grows by one each time the duty changes hands, and fenced writes check it.
CREATE TABLE leaders (
  name        TEXT PRIMARY KEY,
  holder      TEXT NOT NULL,
  term        INTEGER NOT NULL,
  expires_at  INTEGER NOT NULL
) WITHOUT ROWID;
