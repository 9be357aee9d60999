-- Projects, invoices, deposit addresses, chain transfers, the double-entry ledger,
-- postback attempts and invoice timelines. Amounts are base units of their currency: TEXT
-- here (exact; never summed or compared in SQL), NUMERIC(78,0) on PostgreSQL.

create table project (
    project_id integer primary key autoincrement,
    merchant_id integer not null
        constraint project_merchant references merchant (merchant_id),
    shop_id text not null,
    name text not null,
    description text not null default '',
    site_url text not null default '',
    success_url text not null default '',
    fail_url text not null default '',
    notify_url text not null default '',
    postback_format text not null default 'json'
        constraint project_postback_format_known check (postback_format in ('json', 'form')),
    brand_color text not null default '#3b5bdb',
    page_language text not null default 'en',
    logo blob,
    logo_version integer not null default 0,
    -- accepted crypto codes, comma-separated; empty: every enabled one
    currencies text not null default '',
    service_fee_side text not null default 'merchant'
        constraint project_service_side_known check (service_fee_side in ('client', 'merchant')),
    transfer_fee_side text not null default 'merchant'
        constraint project_transfer_side_known check (transfer_fee_side in ('client', 'merchant')),
    invoice_lifetime_minutes integer not null default 1440,
    tolerance_kind text not null default 'none'
        constraint project_tolerance_kind_known check (tolerance_kind in ('none', 'percent', 'usd')),
    tolerance_value text not null default '0',
    email_required integer not null default 0,
    test_mode integer not null default 1,
    -- SHA-256 of the API key; the key itself is shown once
    api_key_hash text not null,
    api_key_hint text not null,
    -- sealed with the master key
    secret_key text not null,
    archived_at integer,
    created_at integer not null,
    updated_at integer not null
);

create unique index project_shop_id_unique on project (shop_id);
create unique index project_api_key_unique on project (api_key_hash);
create index project_by_merchant on project (merchant_id, project_id);

-- Staff limited to chosen projects (no rows: every project of the merchant).
create table user_project (
    user_id integer not null
        constraint user_project_user references app_user (user_id) on delete cascade,
    project_id integer not null
        constraint user_project_project references project (project_id) on delete cascade,
    created_at integer not null,
    constraint user_project_pk primary key (user_id, project_id)
);

create table static_wallet (
    static_wallet_id integer primary key autoincrement,
    uuid text not null,
    project_id integer not null
        constraint static_wallet_project references project (project_id),
    currency text not null,
    identify text not null,
    address text not null,
    test integer not null,
    created_at integer not null,
    updated_at integer not null
);

create unique index static_wallet_uuid_unique on static_wallet (uuid);
create unique index static_wallet_identity_unique on static_wallet (project_id, currency, identify, test);

create table invoice (
    invoice_id integer primary key autoincrement,
    uuid text not null,
    project_id integer not null
        constraint invoice_project references project (project_id),
    merchant_id integer not null
        constraint invoice_merchant references merchant (merchant_id),
    status text not null
        constraint invoice_status_known check (status in ('created', 'partial', 'paid', 'overpaid', 'canceled')),
    confirmed text
        constraint invoice_confirmed_known check (confirmed in ('payment', 'tolerance', 'merchant')),
    paid_late integer not null default 0,
    test integer not null,
    -- the price as asked: an amount of a fiat currency, or of a crypto currency
    price_currency text not null,
    price_amount text not null,
    amount_usd text not null,
    allowed_currencies text not null default '',
    currency text,
    address text,
    quote_price text,
    quote_service_fee text,
    quote_transfer_fee text,
    quote_due text,
    quote_tolerance text,
    quote_service_ppm integer,
    rate_usd text,
    rate_source text,
    rate_locked_at integer,
    service_fee_side text not null,
    transfer_fee_side text not null,
    tolerance_kind text not null,
    tolerance_value text not null,
    received text not null default '0',
    processing text not null default '0',
    settled_credit text not null default '0',
    settled_service_fee text not null default '0',
    settled_transfer_fee text not null default '0',
    order_id text not null default '',
    email text not null default '',
    description text not null default '',
    locale text not null default 'en',
    static_wallet_id integer
        constraint invoice_static_wallet references static_wallet (static_wallet_id),
    expires_at integer not null,
    finished_at integer,
    created_at integer not null,
    updated_at integer not null
);

create unique index invoice_uuid_unique on invoice (uuid);
create index invoice_by_project on invoice (project_id, created_at);
create index invoice_by_merchant on invoice (merchant_id, created_at);

create table deposit_address (
    deposit_address_id integer primary key autoincrement,
    network text not null,
    address text not null,
    derivation_index integer not null,
    test integer not null,
    invoice_id integer
        constraint deposit_address_invoice references invoice (invoice_id),
    static_wallet_id integer
        constraint deposit_address_static_wallet references static_wallet (static_wallet_id),
    created_at integer not null,
    constraint deposit_address_one_owner check ((invoice_id is null) <> (static_wallet_id is null))
);

create unique index deposit_address_unique on deposit_address (network, address);
create index deposit_address_by_invoice on deposit_address (invoice_id);

-- Derivation indexes come from this counter (PostgreSQL uses a sequence).
create table counter (
    name text primary key,
    value integer not null
);
insert into counter (name, value) values ('derivation_index', 0);

create table chain_transfer (
    chain_transfer_id integer primary key autoincrement,
    network text not null,
    txid text not null,
    output_index integer not null,
    address text not null,
    amount text not null,
    test integer not null,
    state text not null
        constraint chain_transfer_state_known check (state in ('seen', 'confirmed', 'orphaned')),
    confirmations integer not null default 0,
    block_height integer,
    block_hash text,
    invoice_id integer
        constraint chain_transfer_invoice references invoice (invoice_id),
    static_wallet_id integer
        constraint chain_transfer_static_wallet references static_wallet (static_wallet_id),
    seen_at integer not null,
    confirmed_at integer,
    created_at integer not null,
    updated_at integer not null
);

create unique index chain_transfer_unique on chain_transfer (network, txid, output_index);
create index chain_transfer_by_invoice on chain_transfer (invoice_id);

-- Ledger accounts keep their balance in their normal direction: custody (an asset) grows
-- with debits, merchant balances and fee accounts grow with credits.
create table ledger_account (
    ledger_account_id integer primary key autoincrement,
    merchant_id integer
        constraint ledger_account_merchant references merchant (merchant_id),
    kind text not null
        constraint ledger_account_kind_known
        check (kind in ('custody', 'merchant_pending', 'merchant_available', 'service_fees', 'network_fees')),
    currency text not null,
    balance text not null,
    created_at integer not null,
    updated_at integer not null
);

create unique index ledger_account_unique on ledger_account (coalesce(merchant_id, 0), kind, currency);

-- Every movement: `amount` leaves the debit account's side and enters the credit account's,
-- so each row balances by itself; `journal` groups the rows of one business event.
create table ledger_transfer (
    ledger_transfer_id integer primary key autoincrement,
    journal text not null,
    invoice_id integer
        constraint ledger_transfer_invoice references invoice (invoice_id),
    debit_account_id integer not null
        constraint ledger_transfer_debit references ledger_account (ledger_account_id),
    credit_account_id integer not null
        constraint ledger_transfer_credit references ledger_account (ledger_account_id),
    currency text not null,
    amount text not null,
    created_at integer not null
);

create index ledger_transfer_by_invoice on ledger_transfer (invoice_id);

create table invoice_event (
    invoice_event_id integer primary key autoincrement,
    invoice_id integer not null
        constraint invoice_event_invoice references invoice (invoice_id),
    kind text not null,
    details text not null,
    created_at integer not null
);

create index invoice_event_by_invoice on invoice_event (invoice_id, invoice_event_id);

create table postback_attempt (
    postback_attempt_id integer primary key autoincrement,
    invoice_id integer not null
        constraint postback_attempt_invoice references invoice (invoice_id),
    job_id integer,
    attempt integer not null,
    url text not null,
    http_status integer,
    response_excerpt text not null default '',
    latency_ms integer not null,
    error text,
    created_at integer not null
);

create index postback_attempt_by_invoice on postback_attempt (invoice_id, postback_attempt_id);
