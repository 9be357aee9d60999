-- The Payments section: every invoice of a merchant, newest first, filtered and searched
-- without scanning. Pages are keyset pages over (created_at, invoice_id).
drop index invoice_by_merchant;
create index invoice_by_merchant on invoice (merchant_id, created_at desc, invoice_id desc);
drop index invoice_by_project;
create index invoice_by_project on invoice (project_id, created_at desc, invoice_id desc);
create index invoice_by_merchant_status on invoice (merchant_id, status, created_at desc, invoice_id desc);
create index invoice_by_merchant_currency on invoice (merchant_id, currency, created_at desc, invoice_id desc);
-- Search: exact order id, payer e-mail, deposit address, transaction hash.
create index invoice_by_order_id on invoice (merchant_id, order_id);
create index invoice_by_email on invoice (merchant_id, email);
create index deposit_address_by_address on deposit_address (address);
create index chain_transfer_by_txid on chain_transfer (txid);

-- Small per-person settings (the Payments columns, later notification preferences).
create table user_setting (
    user_id bigint not null
        constraint user_setting_user references app_user (user_id) on delete cascade,
    name text not null,
    value text not null,
    updated_at bigint not null,
    constraint user_setting_pk primary key (user_id, name)
);
