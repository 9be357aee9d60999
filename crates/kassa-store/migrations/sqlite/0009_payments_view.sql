-- The Payments section: every invoice of a merchant, newest first, filtered and searched
-- without scanning. Pages are keyset pages over (created_at, invoice_id); SQLite's indexes
-- carry the rowid (invoice_id) already.
create index invoice_by_merchant_status on invoice (merchant_id, status, created_at);
create index invoice_by_merchant_currency on invoice (merchant_id, currency, created_at);
-- Search: exact order id, payer e-mail, deposit address, transaction hash.
create index invoice_by_order_id on invoice (merchant_id, order_id);
create index invoice_by_email on invoice (merchant_id, email);
create index deposit_address_by_address on deposit_address (address);
create index chain_transfer_by_txid on chain_transfer (txid);

-- Small per-person settings (the Payments columns, later notification preferences).
create table user_setting (
    user_id integer not null
        constraint user_setting_user references app_user (user_id) on delete cascade,
    name text not null,
    value text not null,
    updated_at integer not null,
    constraint user_setting_pk primary key (user_id, name)
);
