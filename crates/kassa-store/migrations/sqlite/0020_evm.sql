-- EVM networks. Token transfers to deposit addresses from contracts the operator did not
-- allowlist (look-alikes of real tokens): never credited, kept so that the merchant sees why a
-- payment did not count. A reorganisation deletes those above the fork; the block that holds
-- them again records them again.
create table ignored_transfer (
    ignored_transfer_id integer primary key autoincrement,
    network text not null,
    txid text not null,
    log_index integer not null,
    address text not null,
    contract text not null,
    -- base units of the contract's token as the log states them; null past 128 bits
    amount text,
    block_height integer not null,
    block_hash text not null,
    invoice_id integer
        constraint ignored_transfer_invoice references invoice (invoice_id),
    static_wallet_id integer
        constraint ignored_transfer_static_wallet references static_wallet (static_wallet_id),
    created_at integer not null
);
create unique index ignored_transfer_unique on ignored_transfer (network, txid, log_index);
create index ignored_transfer_by_invoice on ignored_transfer (invoice_id);
create index ignored_transfer_by_height on ignored_transfer (network, block_height);

-- The invoices still waiting for payment in a currency, whose addresses the EVM watcher checks
-- for value sent by contract calls at each block.
create index invoice_awaiting on invoice (currency, address)
    where test = 0 and status in ('created', 'partial');
