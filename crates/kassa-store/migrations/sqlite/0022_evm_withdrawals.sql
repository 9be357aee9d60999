-- EVM withdrawals. A withdrawal's transaction leaves the hot wallet's treasury, whose nonces
-- sweeps' gas top-ups use too: it is written to evm_tx as well (purpose 'withdrawal'), so one
-- nonce sequence and one account of what the treasury has promised cover both. SQLite cannot
-- change a check constraint: the table is rebuilt with its indexes.
create table evm_tx_new (
    evm_tx_id integer primary key autoincrement,
    network text not null,
    purpose text not null
        constraint evm_tx_purpose_known check (purpose in ('sweep', 'gas', 'withdrawal')),
    sender text not null,
    sender_branch integer not null,
    sender_index integer not null,
    nonce integer not null,
    recipient text not null,
    currency text not null,
    amount text not null,
    txid text not null,
    raw text not null,
    gas_limit integer not null,
    max_fee text not null,
    state text not null
        constraint evm_tx_state_known check (state in ('sent', 'mined', 'confirmed', 'failed', 'dropped')),
    sent_height integer not null,
    block_height integer,
    block_hash text,
    fee_paid text,
    created_at integer not null,
    updated_at integer not null
);
insert into evm_tx_new
    select evm_tx_id, network, purpose, sender, sender_branch, sender_index, nonce, recipient,
           currency, amount, txid, raw, gas_limit, max_fee, state, sent_height, block_height,
           block_hash, fee_paid, created_at, updated_at
    from evm_tx;
drop table evm_tx;
alter table evm_tx_new rename to evm_tx;
create unique index evm_tx_unique on evm_tx (network, txid);
create index evm_tx_open on evm_tx (network, state);
create index evm_tx_by_sender on evm_tx (network, sender, nonce);

-- A queued request the hot wallet cannot pay right now (short of gas, its funds still being
-- gathered, fees above the operator's cap): when that was first found. Shown to the merchant as
-- "processing, delayed"; cleared when it is made.
alter table withdrawal_request add column delayed_at integer;
