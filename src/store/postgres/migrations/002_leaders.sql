-- Leadership of cluster-wide duties (reaper, promoter, later cron). One row per duty; `term`
-- grows by one each time the duty changes hands, and fenced writes check it.
CREATE TABLE leaders (
  name        text COLLATE "C" PRIMARY KEY,
  holder      text NOT NULL,
  term        bigint NOT NULL,
  expires_at  bigint NOT NULL
);
