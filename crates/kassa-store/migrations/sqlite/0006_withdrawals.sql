-- Withdrawals from the hot wallet: one row per signed transaction, with what it spends (so a
-- later withdrawal never reuses an input still in flight) and how it ended. Amounts are base
-- units as TEXT (like the ledger); `inputs` is JSON text `[{"txid": …, "vout": …}]`.
create table withdrawal (
    withdrawal_id integer primary key autoincrement,
    merchant_id integer not null
        constraint withdrawal_merchant references merchant (merchant_id),
    network text not null,
    currency text not null,
    destination text not null,
    amount text not null,
    fee text not null,
    vsize integer not null,
    txid text not null,
    raw_hex text not null,
    inputs text not null,
    change_address text,
    state text not null
        constraint withdrawal_state_known check (state in ('broadcast', 'confirmed', 'failed')),
    error text,
    confirmations integer not null default 0,
    -- The block the chain watcher saw it in (cleared when a reorganisation drops the block).
    block_height integer,
    block_hash text,
    created_at integer not null,
    updated_at integer not null
);

create index withdrawal_by_state on withdrawal (network, state);
create index withdrawal_by_merchant on withdrawal (merchant_id, withdrawal_id);
