-- Statistics sum exact integers: each invoice's USD value in cents next to its decimal text.
alter table invoice add column amount_usd_cents bigint not null default 0;
update invoice set amount_usd_cents = round(amount_usd::numeric * 100)::bigint;
