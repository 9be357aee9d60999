-- The watcher re-evaluates instead of replaying: an invoice's state and its ledger postings
-- are worked out again from its transfers' current standing, so the facts they follow from
-- besides payments are stored on their own.

-- When the merchant (or the API) cancelled an unpaid invoice, and when the merchant accepted
-- a partial payment. Expiry needs no column: it follows from `expires_at`.
alter table invoice add column canceled_at bigint;
alter table invoice add column accepted_at bigint;
update invoice set canceled_at = finished_at
    where status = 'canceled' and finished_at is not null and finished_at < expires_at;
update invoice set accepted_at = coalesce(finished_at, updated_at) where confirmed = 'merchant';

-- What a merchant owes: a reversed credit they had already withdrawn. An asset (debit-normal),
-- settled first by their next credits.
alter table ledger_account drop constraint ledger_account_kind_known;
alter table ledger_account add constraint ledger_account_kind_known
    check (kind in ('custody', 'merchant_pending', 'merchant_available', 'merchant_receivable',
                    'service_fees', 'network_fees'));

-- Withdrawals: what the transaction consumes (outpoints `txid:vout`, or `address:nonce` on
-- account networks), and a transaction of the best chain that consumed the same, which makes
-- it fail once that one has the network's confirmations.
alter table withdrawal add column consumes text not null default '[]';
update withdrawal set consumes = coalesce(
    (select json_agg((e ->> 'txid') || ':' || (e ->> 'vout'))::text
       from json_array_elements(withdrawal.inputs::json) e),
    '[]');
alter table withdrawal add column conflict_txid text;
alter table withdrawal add column conflict_height bigint;
alter table withdrawal add column conflict_hash text;
-- Set when a payment the withdrawal spends left the best chain (the operator is alerted).
alter table withdrawal add column funding_reversed_at bigint;

-- The currency of each transfer (a token and the network's coin share addresses): what counts
-- towards an invoice is what is in its currency. Earlier rows have none: the invoice's.
alter table chain_transfer add column currency text;
