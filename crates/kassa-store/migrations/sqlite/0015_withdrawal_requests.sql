-- Withdrawals as merchants ask for them: a request is stored (and its amount reserved in the
-- ledger's merchant_withdrawing account) before any transaction exists; it waits for the
-- operator's approval or signature when it has to, and points at the signed transaction
-- (`withdrawal`) once there is one. Amounts are base units as TEXT (like the ledger).
create table withdrawal_request (
    withdrawal_request_id integer primary key autoincrement,
    -- Eight characters, shown as WD-XXXXXXXX (INV-XXXXXXXX in the CryptoCloud API).
    public_id text not null,
    merchant_id integer not null
        constraint withdrawal_request_merchant references merchant (merchant_id),
    network text not null,
    currency text not null,
    destination text not null,
    -- What is reserved; with fee_from_amount the network fee comes out of it.
    amount text not null,
    fee_from_amount integer not null default 0,
    -- What it was worth in USD when asked (decimal text), when a rate was known.
    amount_usd text,
    source text not null
        constraint withdrawal_request_source_known
        check (source in ('dashboard', 'api', 'rule', 'operator')),
    user_id integer
        constraint withdrawal_request_user references app_user (user_id),
    rule_id integer,
    address_id integer,
    state text not null
        constraint withdrawal_request_state_known
        check (state in ('approval', 'queued', 'signature', 'submitted', 'refused', 'failed')),
    withdrawal_id integer
        constraint withdrawal_request_withdrawal references withdrawal (withdrawal_id),
    -- Waiting for the operator's signature: the planned fee, the PSBT and what it spends.
    fee text,
    psbt text,
    consumes text not null default '[]',
    -- Why it failed or was refused, or what it waits for.
    note text,
    created_at integer not null,
    updated_at integer not null
);

create unique index withdrawal_request_public on withdrawal_request (public_id);
create index withdrawal_request_by_merchant on withdrawal_request (merchant_id, withdrawal_request_id);
create index withdrawal_request_by_state on withdrawal_request (state, withdrawal_request_id);
create index withdrawal_request_by_withdrawal on withdrawal_request (withdrawal_id);

-- Saved withdrawal addresses: usable from `usable_at` (the cooling-off after adding one).
create table withdrawal_address (
    withdrawal_address_id integer primary key autoincrement,
    merchant_id integer not null
        constraint withdrawal_address_merchant references merchant (merchant_id),
    network text not null,
    address text not null,
    label text not null,
    created_by integer
        constraint withdrawal_address_user references app_user (user_id),
    usable_at integer not null,
    created_at integer not null
);

create unique index withdrawal_address_unique on withdrawal_address (merchant_id, network, address);

-- Automatic withdrawals: one rule per merchant and network, to a saved address. A threshold
-- rule fires when the available balance reaches threshold_usd while `armed`, and re-arms
-- once it is below again; a schedule rule runs at next_run_at.
create table withdrawal_rule (
    withdrawal_rule_id integer primary key autoincrement,
    merchant_id integer not null
        constraint withdrawal_rule_merchant references merchant (merchant_id),
    network text not null,
    address_id integer not null
        constraint withdrawal_rule_address references withdrawal_address (withdrawal_address_id),
    kind text not null constraint withdrawal_rule_kind_known check (kind in ('threshold', 'schedule')),
    threshold_usd text,
    -- daily, weekly or monthly; at minute_of_day in the zone utc_offset_minutes east of UTC,
    -- on `day` (1 = Monday … 7 for weekly, 1 … 28 for monthly).
    period text,
    minute_of_day integer,
    day integer,
    utc_offset_minutes integer not null default 0,
    armed integer not null default 1,
    next_run_at integer,
    last_run_at integer,
    created_at integer not null,
    updated_at integer not null
);

create unique index withdrawal_rule_unique on withdrawal_rule (merchant_id, network);

-- Each run of a rule: what it did (a request, or why nothing).
create table withdrawal_rule_run (
    withdrawal_rule_run_id integer primary key autoincrement,
    withdrawal_rule_id integer not null
        constraint withdrawal_rule_run_rule references withdrawal_rule (withdrawal_rule_id) on delete cascade,
    withdrawal_request_id integer,
    outcome text not null,
    created_at integer not null
);

create index withdrawal_rule_run_by_rule on withdrawal_rule_run (withdrawal_rule_id, withdrawal_rule_run_id);

-- The CryptoCloud withdrawal API key: one per merchant, stored as a SHA-256 hash.
create table withdrawal_key (
    merchant_id integer primary key
        constraint withdrawal_key_merchant references merchant (merchant_id),
    key_hash text not null,
    created_by integer
        constraint withdrawal_key_user references app_user (user_id),
    created_at integer not null
);

create unique index withdrawal_key_by_hash on withdrawal_key (key_hash);

-- Reserved for withdrawal requests not yet signed: a new kind of ledger account. SQLite
-- cannot change a check constraint, so both ledger tables are rebuilt (as in 0008), with
-- every index they had.
create table ledger_account_new (
    ledger_account_id integer primary key autoincrement,
    merchant_id integer
        constraint ledger_account_merchant references merchant (merchant_id),
    kind text not null
        constraint ledger_account_kind_known
        check (kind in ('custody', 'merchant_pending', 'merchant_available', 'merchant_receivable',
                        'merchant_withdrawing', 'service_fees', 'network_fees')),
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
create index ledger_transfer_by_debit on ledger_transfer (debit_account_id, ledger_transfer_id);
create index ledger_transfer_by_credit on ledger_transfer (credit_account_id, ledger_transfer_id);
-- A withdrawal's or a request's postings are read by journal (to post only differences).
create index ledger_transfer_by_journal on ledger_transfer (journal);
