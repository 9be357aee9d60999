-- Statistics sum exact integers: each invoice's USD value in cents next to its decimal text
-- (rows written before this migration are converted once; their values have at most 15
-- significant digits, which a double holds exactly).
alter table invoice add column amount_usd_cents integer not null default 0;
update invoice set amount_usd_cents = cast(round(cast(amount_usd as real) * 100) as integer);
