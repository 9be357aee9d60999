-- The watcher re-evaluates instead of replaying: an invoice's state and its ledger postings
-- are worked out again from its transfers' current standing, so the facts they follow from
-- besides payments are stored on their own.

-- When the merchant (or the API) cancelled an unpaid invoice, and when the merchant accepted
-- a partial payment. Expiry needs no column: it follows from `expires_at`.
alter table invoice add column canceled_at integer;
alter table invoice add column accepted_at integer;
update invoice set canceled_at = finished_at
    where status = 'canceled' and finished_at is not null and finished_at < expires_at;
update invoice set accepted_at = coalesce(finished_at, updated_at) where confirmed = 'merchant';

-- What a merchant owes: a reversed credit they had already withdrawn. An asset (debit-normal),
-- settled first by their next credits. SQLite cannot change a check constraint, so the table is
-- rebuilt, and `ledger_transfer` with it (renaming a parent table rewrites its children's
-- references, so both are built anew and renamed into place, parent first).
create table ledger_account_new (
    ledger_account_id integer primary key autoincrement,
    merchant_id integer
        constraint ledger_account_merchant references merchant (merchant_id),
    kind text not null
        constraint ledger_account_kind_known
        check (kind in ('custody', 'merchant_pending', 'merchant_available', 'merchant_receivable',
                        'service_fees', 'network_fees')),
    currency text not null,
    balance text not null,
    created_at integer not null,
    updated_at integer not null
);
insert into ledger_account_new
    select ledger_account_id, merchant_id, kind, currency, balance, created_at, updated_at
    from ledger_account;
create table ledger_transfer_new (
    ledger_transfer_id integer primary key autoincrement,
    journal text not null,
    invoice_id integer
        constraint ledger_transfer_invoice references invoice (invoice_id),
    debit_account_id integer not null
        constraint ledger_transfer_debit references ledger_account_new (ledger_account_id),
    credit_account_id integer not null
        constraint ledger_transfer_credit references ledger_account_new (ledger_account_id),
    currency text not null,
    amount text not null,
    created_at integer not null
);
insert into ledger_transfer_new
    select ledger_transfer_id, journal, invoice_id, debit_account_id, credit_account_id,
           currency, amount, created_at
    from ledger_transfer;
drop table ledger_transfer;
drop table ledger_account;
alter table ledger_account_new rename to ledger_account;
alter table ledger_transfer_new rename to ledger_transfer;
create unique index ledger_account_unique on ledger_account (coalesce(merchant_id, 0), kind, currency);
create index ledger_transfer_by_invoice on ledger_transfer (invoice_id);

-- Withdrawals: what the transaction consumes (outpoints `txid:vout`, or `address:nonce` on
-- account networks), and a transaction of the best chain that consumed the same, which makes
-- it fail once that one has the network's confirmations.
alter table withdrawal add column consumes text not null default '[]';
update withdrawal set consumes = coalesce(
    (select json_group_array(json_extract(e.value, '$.txid') || ':' || json_extract(e.value, '$.vout'))
       from json_each(withdrawal.inputs) e),
    '[]');
alter table withdrawal add column conflict_txid text;
alter table withdrawal add column conflict_height integer;
alter table withdrawal add column conflict_hash text;
-- Set when a payment the withdrawal spends left the best chain (the operator is alerted).
alter table withdrawal add column funding_reversed_at integer;

-- The currency of each transfer (a token and the network's coin share addresses): what counts
-- towards an invoice is what is in its currency. Earlier rows have none: the invoice's.
alter table chain_transfer add column currency text;
