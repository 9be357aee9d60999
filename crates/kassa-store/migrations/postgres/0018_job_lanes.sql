-- A job's lane: the destination it talks to (a postback's host). The worker keeps a bounded
-- number of jobs of one lane in flight and claims past a full lane, so one slow or dead
-- destination delays only its own jobs. Null: no lane (no limit).
alter table job add column lane text;
