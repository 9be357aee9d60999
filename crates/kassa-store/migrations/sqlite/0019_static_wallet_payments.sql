-- The static wallets page lists each wallet's payments (the invoices its top-ups made) and
-- counts them per wallet.
create index invoice_by_static_wallet on invoice (static_wallet_id, created_at)
    where static_wallet_id is not null;
