-- The Balance page's statement: a merchant's transfers read per account, newest first, from
-- the debit side and the credit side separately.
create index ledger_transfer_by_debit on ledger_transfer (debit_account_id, ledger_transfer_id);
create index ledger_transfer_by_credit on ledger_transfer (credit_account_id, ledger_transfer_id);
