-- EVM sweeps. Every transaction Kassa sends on an EVM network (a sweep of a deposit address
-- into the hot wallet's treasury, or the gas sent ahead of a token sweep) is written here
-- before it is handed to the node: its nonce is taken for good, and a crash between the two
-- only means it is handed over again. Replacements (a higher fee for a stuck one) are rows of
-- the same sender and nonce.
create table evm_tx (
    evm_tx_id integer primary key autoincrement,
    network text not null,
    purpose text not null constraint evm_tx_purpose_known check (purpose in ('sweep', 'gas')),
    sender text not null,
    -- the sender's key: branch 0 (deposit addresses) or 1 (the treasury), and index
    sender_branch integer not null,
    sender_index integer not null,
    nonce integer not null,
    recipient text not null,
    -- what it moves: the coin (a sweep of it, or gas) or a token
    currency text not null,
    amount text not null,
    txid text not null,
    raw text not null,
    gas_limit integer not null,
    max_fee text not null,
    state text not null
        constraint evm_tx_state_known check (state in ('sent', 'mined', 'confirmed', 'failed', 'dropped')),
    -- the node's height when it was handed over (how long it has waited)
    sent_height integer not null,
    block_height integer,
    block_hash text,
    -- wei paid for it, once mined
    fee_paid text,
    created_at integer not null,
    updated_at integer not null
);
create unique index evm_tx_unique on evm_tx (network, txid);
create index evm_tx_open on evm_tx (network, state);
create index evm_tx_by_sender on evm_tx (network, sender, nonce);

-- The gas of sweeping the coin is paid out of custody: an operator's cost, a new kind of ledger
-- account. SQLite cannot change a check constraint, so both ledger tables are rebuilt (as in
-- 0015), with every index they had.
create table ledger_account_new (
    ledger_account_id integer primary key autoincrement,
    merchant_id integer
        constraint ledger_account_merchant references merchant (merchant_id),
    kind text not null
        constraint ledger_account_kind_known
        check (kind in ('custody', 'merchant_pending', 'merchant_available', 'merchant_receivable',
                        'merchant_withdrawing', 'service_fees', 'network_fees', 'chain_costs')),
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
create index ledger_transfer_by_journal on ledger_transfer (journal);
