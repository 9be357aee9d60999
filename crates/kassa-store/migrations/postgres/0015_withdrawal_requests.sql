-- Withdrawals as merchants ask for them: a request is stored (and its amount reserved in the
-- ledger's merchant_withdrawing account) before any transaction exists; it waits for the
-- operator's approval or signature when it has to, and points at the signed transaction
-- (`withdrawal`) once there is one. Amounts are base units as NUMERIC(78,0) (like the ledger).
create table withdrawal_request (
    withdrawal_request_id bigint generated always as identity primary key,
    -- Eight characters, shown as WD-XXXXXXXX (INV-XXXXXXXX in the CryptoCloud API).
    public_id text not null,
    merchant_id bigint not null
        constraint withdrawal_request_merchant references merchant (merchant_id),
    network text not null,
    currency text not null,
    destination text not null,
    -- What is reserved; with fee_from_amount the network fee comes out of it.
    amount numeric(78, 0) not null,
    fee_from_amount bigint not null default 0,
    -- What it was worth in USD when asked (decimal text), when a rate was known.
    amount_usd text,
    source text not null
        constraint withdrawal_request_source_known
        check (source in ('dashboard', 'api', 'rule', 'operator')),
    user_id bigint
        constraint withdrawal_request_user references app_user (user_id),
    rule_id bigint,
    address_id bigint,
    state text not null
        constraint withdrawal_request_state_known
        check (state in ('approval', 'queued', 'signature', 'submitted', 'refused', 'failed')),
    withdrawal_id bigint
        constraint withdrawal_request_withdrawal references withdrawal (withdrawal_id),
    -- Waiting for the operator's signature: the planned fee, the PSBT and what it spends.
    fee numeric(78, 0),
    psbt text,
    consumes text not null default '[]',
    -- Why it failed or was refused, or what it waits for.
    note text,
    created_at bigint not null,
    updated_at bigint not null
);

create unique index withdrawal_request_public on withdrawal_request (public_id);
create index withdrawal_request_by_merchant on withdrawal_request (merchant_id, withdrawal_request_id);
create index withdrawal_request_by_state on withdrawal_request (state, withdrawal_request_id);
create index withdrawal_request_by_withdrawal on withdrawal_request (withdrawal_id);

-- Saved withdrawal addresses: usable from `usable_at` (the cooling-off after adding one).
create table withdrawal_address (
    withdrawal_address_id bigint generated always as identity primary key,
    merchant_id bigint not null
        constraint withdrawal_address_merchant references merchant (merchant_id),
    network text not null,
    address text not null,
    label text not null,
    created_by bigint
        constraint withdrawal_address_user references app_user (user_id),
    usable_at bigint not null,
    created_at bigint not null
);

create unique index withdrawal_address_unique on withdrawal_address (merchant_id, network, address);

-- Automatic withdrawals: one rule per merchant and network, to a saved address. A threshold
-- rule fires when the available balance reaches threshold_usd while `armed`, and re-arms
-- once it is below again; a schedule rule runs at next_run_at.
create table withdrawal_rule (
    withdrawal_rule_id bigint generated always as identity primary key,
    merchant_id bigint not null
        constraint withdrawal_rule_merchant references merchant (merchant_id),
    network text not null,
    address_id bigint not null
        constraint withdrawal_rule_address references withdrawal_address (withdrawal_address_id),
    kind text not null constraint withdrawal_rule_kind_known check (kind in ('threshold', 'schedule')),
    threshold_usd text,
    -- daily, weekly or monthly; at minute_of_day in the zone utc_offset_minutes east of UTC,
    -- on `day` (1 = Monday … 7 for weekly, 1 … 28 for monthly).
    period text,
    minute_of_day bigint,
    day bigint,
    utc_offset_minutes bigint not null default 0,
    armed bigint not null default 1,
    next_run_at bigint,
    last_run_at bigint,
    created_at bigint not null,
    updated_at bigint not null
);

create unique index withdrawal_rule_unique on withdrawal_rule (merchant_id, network);

-- Each run of a rule: what it did (a request, or why nothing).
create table withdrawal_rule_run (
    withdrawal_rule_run_id bigint generated always as identity primary key,
    withdrawal_rule_id bigint not null
        constraint withdrawal_rule_run_rule references withdrawal_rule (withdrawal_rule_id) on delete cascade,
    withdrawal_request_id bigint,
    outcome text not null,
    created_at bigint not null
);

create index withdrawal_rule_run_by_rule on withdrawal_rule_run (withdrawal_rule_id, withdrawal_rule_run_id);

-- The CryptoCloud withdrawal API key: one per merchant, stored as a SHA-256 hash.
create table withdrawal_key (
    merchant_id bigint primary key
        constraint withdrawal_key_merchant references merchant (merchant_id),
    key_hash text not null,
    created_by bigint
        constraint withdrawal_key_user references app_user (user_id),
    created_at bigint not null
);

create unique index withdrawal_key_by_hash on withdrawal_key (key_hash);

-- Reserved for withdrawal requests not yet signed.
alter table ledger_account drop constraint ledger_account_kind_known;
alter table ledger_account add constraint ledger_account_kind_known
    check (kind in ('custody', 'merchant_pending', 'merchant_available', 'merchant_receivable',
                    'merchant_withdrawing', 'service_fees', 'network_fees'));

-- A withdrawal's or a request's postings are read by journal (to post only differences).
create index ledger_transfer_by_journal on ledger_transfer (journal);
