-- The operator's wallet of each UTXO network (BTC, LTC): one BIP84 account per network,
-- either hot (its BIP39 recovery phrase sealed with the master key; the context names the
-- network) or watch-only (only the account's extended public key). Deposit addresses are the
-- account's receive branch, `…/0/<index>`; `next_index` is the first index not yet handed out,
-- taken atomically inside the transaction that records the address, so none is used twice.
create table chain_wallet (
    network text primary key,
    chain text not null
        constraint chain_wallet_chain_known check (chain in ('mainnet', 'testnet', 'regtest')),
    kind text not null
        constraint chain_wallet_kind_known check (kind in ('hot', 'watch')),
    -- `v1:<key id>:<data>`; null for watch-only wallets
    sealed_mnemonic text,
    -- the account key m/84'/coin'/0' in the chain's plain format (xpub or tpub); public
    account_xpub text not null,
    next_index integer not null default 0
        constraint chain_wallet_next_index_range check (next_index between 0 and 2147483648),
    created_at integer not null,
    updated_at integer not null,
    constraint chain_wallet_hot_has_phrase check ((kind = 'hot') = (sealed_mnemonic is not null))
);
