-- EVM withdrawals. A withdrawal's transaction leaves the hot wallet's treasury, whose nonces
-- sweeps' gas top-ups use too: it is written to evm_tx as well (purpose 'withdrawal'), so one
-- nonce sequence and one account of what the treasury has promised cover both.
alter table evm_tx drop constraint evm_tx_purpose_known;
alter table evm_tx add constraint evm_tx_purpose_known
    check (purpose in ('sweep', 'gas', 'withdrawal'));

-- A queued request the hot wallet cannot pay right now (short of gas, its funds still being
-- gathered, fees above the operator's cap): when that was first found. Shown to the merchant as
-- "processing, delayed"; cleared when it is made.
alter table withdrawal_request add column delayed_at bigint;
