-- Chain watchers: where each network's watcher stands, and the recent blocks it processed
-- (their hashes tell a reorganisation apart from the next block).
create table chain_cursor (
    network text primary key,
    height bigint not null,
    block_hash text not null,
    updated_at bigint not null
);

create table chain_block (
    network text not null,
    height bigint not null,
    block_hash text not null,
    created_at bigint not null,
    primary key (network, height)
);

-- Transfers that still need the watcher: seen, or in a block but not yet confirmed.
create index chain_transfer_open on chain_transfer (network, state);
