-- The durable job queue (the outbox). A job row is written in the same transaction as the
-- change that causes it; workers claim due rows (FOR UPDATE SKIP LOCKED), run them and record
-- every attempt. Times are microseconds since the Unix epoch.

create table job (
    job_id bigint generated always as identity primary key,
    kind text not null,
    payload text not null,
    state text not null
        constraint job_state_known check (state in ('queued', 'running', 'done', 'failed')),
    attempts bigint not null default 0,
    run_at bigint not null,
    locked_by text,
    locked_until bigint,
    last_error text,
    created_at bigint not null,
    updated_at bigint not null
);

create index job_due on job (run_at, job_id) where state = 'queued';
create index job_leased on job (locked_until) where state = 'running';
create index job_failed on job (updated_at) where state = 'failed';

create table job_attempt (
    job_attempt_id bigint generated always as identity primary key,
    job_id bigint not null
        constraint job_attempt_job references job (job_id) on delete cascade,
    attempt bigint not null,
    worker text not null,
    started_at bigint not null,
    finished_at bigint not null,
    error text,
    created_at bigint not null
);

create index job_attempt_by_job on job_attempt (job_id, attempt);
