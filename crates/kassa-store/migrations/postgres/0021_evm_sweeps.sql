-- EVM sweeps. Every transaction Kassa sends on an EVM network (a sweep of a deposit address
-- into the hot wallet's treasury, or the gas sent ahead of a token sweep) is written here
-- before it is handed to the node: its nonce is taken for good, and a crash between the two
-- only means it is handed over again. Replacements (a higher fee for a stuck one) are rows of
-- the same sender and nonce.
create table evm_tx (
    evm_tx_id bigint generated always as identity primary key,
    network text not null,
    purpose text not null constraint evm_tx_purpose_known check (purpose in ('sweep', 'gas')),
    sender text not null,
    -- the sender's key: branch 0 (deposit addresses) or 1 (the treasury), and index
    sender_branch bigint not null,
    sender_index bigint not null,
    nonce bigint not null,
    recipient text not null,
    -- what it moves: the coin (a sweep of it, or gas) or a token
    currency text not null,
    amount numeric(78, 0) not null,
    txid text not null,
    raw text not null,
    gas_limit bigint not null,
    max_fee numeric(78, 0) not null,
    state text not null
        constraint evm_tx_state_known check (state in ('sent', 'mined', 'confirmed', 'failed', 'dropped')),
    -- the node's height when it was handed over (how long it has waited)
    sent_height bigint not null,
    block_height bigint,
    block_hash text,
    -- wei paid for it, once mined
    fee_paid numeric(78, 0),
    created_at bigint not null,
    updated_at bigint not null
);
create unique index evm_tx_unique on evm_tx (network, txid);
create index evm_tx_open on evm_tx (network, state);
create index evm_tx_by_sender on evm_tx (network, sender, nonce);

-- The gas of sweeping the coin is paid out of custody: an operator's cost, a new kind of ledger
-- account.
alter table ledger_account drop constraint ledger_account_kind_known;
alter table ledger_account add constraint ledger_account_kind_known
    check (kind in ('custody', 'merchant_pending', 'merchant_available', 'merchant_receivable',
                    'merchant_withdrawing', 'service_fees', 'network_fees', 'chain_costs'));
