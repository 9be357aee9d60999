-- Withdrawals from the hot wallet: one row per signed transaction, with what it spends (so a
-- later withdrawal never reuses an input still in flight) and how it ended. Amounts are base
-- units as NUMERIC(78,0) (like the ledger); `inputs` is JSON text `[{"txid": …, "vout": …}]`.
create table withdrawal (
    withdrawal_id bigint generated always as identity primary key,
    merchant_id bigint not null
        constraint withdrawal_merchant references merchant (merchant_id),
    network text not null,
    currency text not null,
    destination text not null,
    amount numeric(78, 0) not null,
    fee numeric(78, 0) not null,
    vsize bigint not null,
    txid text not null,
    raw_hex text not null,
    inputs text not null,
    change_address text,
    state text not null
        constraint withdrawal_state_known check (state in ('broadcast', 'confirmed', 'failed')),
    error text,
    confirmations bigint not null default 0,
    -- The block the chain watcher saw it in (cleared when a reorganisation drops the block).
    block_height bigint,
    block_hash text,
    created_at bigint not null,
    updated_at bigint not null
);

create index withdrawal_by_state on withdrawal (network, state);
create index withdrawal_by_merchant on withdrawal (merchant_id, withdrawal_id);
