//! Chain transfers: every incoming payment once per (network, txid, output or log index), with
//! where it stands in the node's best chain as the watcher last read it.

use kassa_core::{Amount, InvoiceId, StaticWalletId, Timestamp, TransferId};

use crate::{AsConn, DbAmount, StoreError, exec, sql};

/// Where a chain transfer stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransferState {
    /// Seen, not counted: in the mempool, or in a block short of the confirmation rule.
    Seen,
    /// In a block of the best chain with the network's confirmations: it counts.
    Confirmed,
    /// Neither in the best chain nor waiting (replaced, evicted, or its block left the chain).
    Orphaned,
}

impl TransferState {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            TransferState::Seen => "seen",
            TransferState::Confirmed => "confirmed",
            TransferState::Orphaned => "orphaned",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        [
            TransferState::Seen,
            TransferState::Confirmed,
            TransferState::Orphaned,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }
}

/// A chain transfer as stored.
#[derive(Clone, Debug)]
pub struct TransferRow {
    /// Id.
    pub id: TransferId,
    /// Network code.
    pub network: String,
    /// Transaction id.
    pub txid: String,
    /// Output (UTXO) or log index.
    pub output_index: i64,
    /// Receiving address.
    pub address: String,
    /// Amount.
    pub amount: Amount,
    /// Simulated (test mode).
    pub test: bool,
    /// State.
    pub state: TransferState,
    /// Confirmations when last looked at.
    pub confirmations: i64,
    /// Height of the best-chain block holding it (none while waiting, or after its block
    /// left the chain).
    pub block_height: Option<i64>,
    /// That block's hash.
    pub block_hash: Option<String>,
    /// The currency it is in (`None` for transfers recorded before currencies were stored:
    /// the invoice's currency).
    pub currency: Option<String>,
    /// First seen.
    pub seen_at: Timestamp,
    /// Confirmed at.
    pub confirmed_at: Option<Timestamp>,
    /// The invoice it pays (for a static wallet: the invoice made for this transfer).
    pub invoice_id: Option<InvoiceId>,
}

type TransferTuple = (
    i64,
    String,
    String,
    i64,
    String,
    DbAmount,
    bool,
    String,
    i64,
    Option<i64>,
    i64,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<String>,
);

fn transfer_row(t: TransferTuple) -> Result<TransferRow, StoreError> {
    Ok(TransferRow {
        id: TransferId::new(t.0),
        network: t.1,
        txid: t.2,
        output_index: t.3,
        address: t.4,
        amount: t.5.0,
        test: t.6,
        state: TransferState::parse(&t.7).ok_or_else(|| StoreError::Corrupt {
            column: "chain_transfer.state",
            reason: t.7.clone(),
        })?,
        confirmations: t.8,
        block_height: t.9,
        seen_at: Timestamp::from_micros(t.10),
        confirmed_at: t.11.map(Timestamp::from_micros),
        invoice_id: t.12.map(InvoiceId::new),
        block_hash: t.13,
        currency: t.14,
    })
}

const TRANSFER_COLUMNS: &str = "chain_transfer_id, network, txid, output_index, address, amount, test, state, confirmations, \
     block_height, seen_at, confirmed_at, invoice_id, block_hash, currency";

/// A transfer to record.
#[derive(Clone, Debug)]
pub struct NewTransfer<'a> {
    /// Network code.
    pub network: &'a str,
    /// Transaction id.
    pub txid: &'a str,
    /// Output or log index.
    pub output_index: i64,
    /// Receiving address.
    pub address: &'a str,
    /// Amount.
    pub amount: Amount,
    /// The currency it is in.
    pub currency: &'a str,
    /// Simulated.
    pub test: bool,
    /// Where it stands when first recorded.
    pub state: TransferState,
    /// Confirmations then.
    pub confirmations: i64,
    /// The best-chain block holding it then, if any.
    pub block: Option<(i64, &'a str)>,
    /// The invoice it pays.
    pub invoice_id: InvoiceId,
    /// The static wallet it arrived at, if any.
    pub static_wallet_id: Option<StaticWalletId>,
}

/// Records a transfer once: `None` when (network, txid, output index) is already recorded.
pub async fn insert_transfer(
    conn: &mut impl AsConn,
    t: &NewTransfer<'_>,
    now: Timestamp,
) -> Result<Option<TransferId>, StoreError> {
    let (invoice, wallet) = (
        t.invoice_id.get(),
        t.static_wallet_id.map(StaticWalletId::get),
    );
    let id: Option<i64> = sql!(conn, |c| {
        sqlx::query_scalar(
        "insert into chain_transfer (network, txid, output_index, address, amount, test, state, invoice_id, \
         static_wallet_id, seen_at, created_at, updated_at, currency, confirmations, block_height, block_hash, \
         confirmed_at) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $10, $11, $12, $13, $14, \
         case when $7 = 'confirmed' then $10 end) \
         on conflict do nothing returning chain_transfer_id"
    )
    .bind(t.network)
    .bind(t.txid)
    .bind(t.output_index)
    .bind(t.address)
    .bind(DbAmount(t.amount))
    .bind(t.test)
    .bind(t.state.as_str())
    .bind(invoice)
    .bind(wallet)
    .bind(now.as_micros())
    .bind(t.currency)
    .bind(t.confirmations)
    .bind(t.block.map(|b| b.0))
    .bind(t.block.map(|b| b.1))
    .fetch_optional(c)
    .await
    })?;
    Ok(id.map(TransferId::new))
}

/// A recorded transfer by its chain key.
pub async fn transfer(
    conn: &mut impl AsConn,
    network: &str,
    txid: &str,
    output_index: i64,
) -> Result<Option<TransferRow>, StoreError> {
    let q = sqlx::AssertSqlSafe(format!(
        "select {TRANSFER_COLUMNS} from chain_transfer where network = $1 and txid = $2 and output_index = $3"
    ));
    let r: Option<TransferTuple> = sql!(conn, |c| sqlx::query_as(q)
        .bind(network)
        .bind(txid)
        .bind(output_index)
        .fetch_optional(c)
        .await)?;
    r.map(transfer_row).transpose()
}

/// Where a transfer stands now, exactly as given: state, confirmations, and the best-chain
/// block holding it (`None` clears a block that left the chain). The first time it is
/// confirmed is kept.
pub async fn set_position(
    conn: &mut impl AsConn,
    id: TransferId,
    state: TransferState,
    confirmations: i64,
    block: Option<(i64, &str)>,
    now: Timestamp,
) -> Result<(), StoreError> {
    exec!(
        conn,
        sqlx::query(
            "update chain_transfer set state = $1, confirmations = $2, block_height = $3, block_hash = $4, \
             confirmed_at = case when $1 = 'confirmed' then coalesce(confirmed_at, $5) else confirmed_at end, \
             updated_at = $5 where chain_transfer_id = $6"
        )
        .bind(state.as_str())
        .bind(confirmations)
        .bind(block.map(|b| b.0))
        .bind(block.map(|b| b.1))
        .bind(now.as_micros())
        .bind(id.get())
    )?;
    Ok(())
}

/// The transfers to an invoice's address, oldest first.
pub async fn transfers_of(
    conn: &mut impl AsConn,
    invoice: InvoiceId,
) -> Result<Vec<TransferRow>, StoreError> {
    let q = sqlx::AssertSqlSafe(format!(
        "select {TRANSFER_COLUMNS} from chain_transfer where invoice_id = $1 order by chain_transfer_id"
    ));
    let rows: Vec<TransferTuple> = sql!(conn, |c| sqlx::query_as(q)
        .bind(invoice.get())
        .fetch_all(c)
        .await)?;
    rows.into_iter().map(transfer_row).collect()
}

/// What a merchant has coming in per currency: live payments to their invoices and static
/// wallets that the watcher has seen but that do not count yet (in the mempool, or in a
/// block short of the confirmations). Not money of the ledger — it shows as pending.
pub async fn incoming_of(
    conn: &mut impl AsConn,
    merchant: kassa_core::MerchantId,
) -> Result<std::collections::BTreeMap<String, Amount>, StoreError> {
    let rows: Vec<(Option<String>, DbAmount)> = sql!(conn, |c| sqlx::query_as(
        "select coalesce(t.currency, i.currency, w.currency), t.amount from chain_transfer t \
         left join invoice i on i.invoice_id = t.invoice_id \
         left join static_wallet w on w.static_wallet_id = t.static_wallet_id \
         left join project p on p.project_id = w.project_id \
         where t.state = 'seen' and t.test = $2 \
         and coalesce(i.merchant_id, p.merchant_id) = $1"
    )
    .bind(merchant.get())
    .bind(false)
    .fetch_all(c)
    .await)?;
    let mut out = std::collections::BTreeMap::new();
    for (currency, amount) in rows {
        let Some(currency) = currency else { continue };
        let sum: &mut Amount = out.entry(currency).or_insert(Amount::ZERO);
        *sum = sum
            .checked_add(amount.0)
            .ok_or_else(|| StoreError::Corrupt {
                column: "chain_transfer.amount",
                reason: "incoming payments beyond any amount".into(),
            })?;
    }
    Ok(out)
}
