-- Daily totals of invoices, kept in the transaction of every change that moves an invoice
-- between them (creation, the payer choosing a currency, a status change), so statistics over
-- a year read a few thousand rows instead of every invoice. Each total is split over 16
-- shards (a change picks one at random) so that concurrent invoices of one project and day do
-- not queue on one row; readers sum the shards and skip totals that fall to zero.
create table invoice_day (
    merchant_id integer not null,
    project_id integer not null,
    day integer not null,
    status text not null,
    currency text not null,
    shard integer not null,
    test integer not null,
    count integer not null,
    cents integer not null,
    constraint invoice_day_pk primary key (merchant_id, day, project_id, status, currency, test, shard)
);

insert into invoice_day (merchant_id, project_id, day, status, currency, test, shard, count, cents)
select merchant_id, project_id, created_at / 86400000000, status, coalesce(currency, ''), test, 0,
       count(*), sum(amount_usd_cents)
from invoice
group by merchant_id, project_id, created_at / 86400000000, status, coalesce(currency, ''), test;
