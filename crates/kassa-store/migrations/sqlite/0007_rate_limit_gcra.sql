-- Rate limits move from fixed windows (hit counts per clock-aligned window, which allow about
-- twice the limit across a boundary) to the generic cell rate algorithm: one theoretical
-- arrival time per bucket. The counters are short-lived, so the old table is dropped.
drop table rate_limit;

create table rate_limit (
    bucket text primary key,
    -- µs since the epoch: admitted hits push it forward by the limit's interval.
    tat integer not null
);

create index rate_limit_by_tat on rate_limit (tat);
