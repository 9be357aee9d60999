-- Daily totals of invoices, kept in the transaction of every change that moves an invoice
-- between them (creation, the payer choosing a currency, a status change), so statistics over
-- a year read a few thousand rows instead of every invoice. Rows may fall to zero; readers
-- skip them.
create table invoice_day (
    merchant_id bigint not null,
    project_id bigint not null,
    day bigint not null,
    status text not null,
    currency text not null,
    test boolean not null,
    count bigint not null,
    cents bigint not null,
    constraint invoice_day_pk primary key (merchant_id, day, project_id, status, currency, test)
);

insert into invoice_day (merchant_id, project_id, day, status, currency, test, count, cents)
select merchant_id, project_id, created_at / 86400000000, status, coalesce(currency, ''), test,
       count(*), sum(amount_usd_cents)
from invoice
group by merchant_id, project_id, created_at / 86400000000, status, coalesce(currency, ''), test;
