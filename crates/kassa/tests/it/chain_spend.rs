//! Withdrawals built and signed by Kassa (`kassa_chain::spend`) against a real
//! `litecoind -regtest`: Kassa-derived addresses are funded from the node's wallet, and the
//! transactions Kassa signs from them pass `testmempoolaccept`, are accepted by
//! `sendrawtransaction` and confirm, paying exactly what was asked, with the change at Kassa's
//! change address and a fee of exactly vsize × rate.

use std::time::{Duration, Instant};

use kassa_chain::Chain;
use kassa_chain::hd::{Branch, Coin, HotWallet, Mnemonic};
use kassa_chain::rpc::{RpcClient, TxIn, TxOut};
use kassa_chain::spend::{
    self, DestinationError, FeeRate, OutputRole, Outputs, Payment, Policy, RBF_SEQUENCE,
    SpendError, Txid, Utxo, Withdrawal,
};
use kassa_core::money::Amount;
use serde::Deserialize;
use serde_json::json;

use crate::support::litecoind::{Litecoind, litecoind_skipped};

const COIN: Coin = Coin::Litecoin;
const CHAIN: Chain = Chain::Regtest;

fn hot_wallet() -> HotWallet {
    let mnemonic = Mnemonic::generate().unwrap();
    HotWallet::from_mnemonic(&mnemonic, "", COIN, CHAIN).unwrap()
}

/// `testmempoolaccept`'s answer for one transaction.
#[derive(Debug, Deserialize)]
struct MempoolAccept {
    txid: String,
    allowed: bool,
    #[serde(default)]
    vsize: Option<u64>,
    #[serde(default)]
    fees: Option<Fees>,
    #[serde(default, rename = "reject-reason")]
    reject_reason: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Fees {
    #[serde(deserialize_with = "kassa_chain::rpc::amount")]
    base: Amount,
}

/// `getmempoolentry` (the fields checked).
#[derive(Debug, Deserialize)]
struct MempoolEntry {
    vsize: u64,
    weight: u64,
    wtxid: String,
    #[serde(rename = "bip125-replaceable")]
    replaceable: bool,
    fees: Fees,
}

/// `getrawtransaction <txid> true` with its sizes.
#[derive(Debug, Deserialize)]
struct NodeTx {
    txid: String,
    hash: String,
    vsize: u64,
    weight: u64,
    #[serde(default)]
    confirmations: Option<u64>,
    vin: Vec<TxIn>,
    vout: Vec<TxOut>,
}

/// An amount in coins as a bare JSON number (`getreceivedbyaddress`).
#[derive(Debug, Deserialize)]
struct Coins(#[serde(deserialize_with = "kassa_chain::rpc::amount")] Amount);

async fn test_accept(rpc: &RpcClient, hex: &str) -> MempoolAccept {
    let mut answers: Vec<MempoolAccept> = rpc
        .call_as("testmempoolaccept", json!([[hex]]))
        .await
        .unwrap();
    assert_eq!(answers.len(), 1);
    answers.remove(0)
}

async fn node_tx(rpc: &RpcClient, txid: &str) -> NodeTx {
    rpc.call_as("getrawtransaction", json!([txid, true]))
        .await
        .unwrap()
}

fn base(amount: Amount) -> u64 {
    u64::try_from(amount.base()).unwrap()
}

/// Pays `amount` from the node's wallet to Kassa's address at (`branch`, `index`); returns
/// the transaction id.
async fn fund(
    node: &Litecoind,
    payer: &RpcClient,
    hot: &HotWallet,
    branch: Branch,
    index: u32,
    amount: u64,
) -> String {
    let address = hot.address(branch, index).unwrap();
    node.send(payer, &address, Amount::from_base(u128::from(amount)))
        .await
}

/// The output of `txid` that pays Kassa's address at (`branch`, `index`), as a spendable
/// [`Utxo`] with the node's count of confirmations.
async fn our_output(
    rpc: &RpcClient,
    hot: &HotWallet,
    txid: &str,
    branch: Branch,
    index: u32,
) -> Utxo {
    let address = hot.address(branch, index).unwrap();
    let tx = node_tx(rpc, txid).await;
    let outputs: Vec<&TxOut> = tx
        .vout
        .iter()
        .filter(|o| o.script_pub_key.single_address() == Some(address.as_str()))
        .collect();
    assert_eq!(outputs.len(), 1, "{txid} pays {address} once");
    Utxo {
        txid: txid.parse::<Txid>().unwrap(),
        vout: outputs[0].n,
        amount: base(outputs[0].value),
        branch,
        index,
        confirmations: u32::try_from(tx.confirmations.unwrap_or(0)).unwrap(),
    }
}

/// What a node address has received in confirmed transactions.
async fn received(payer: &RpcClient, address: &str) -> u64 {
    let coins: Coins = payer
        .call_as("getreceivedbyaddress", json!([address, 1]))
        .await
        .unwrap();
    base(coins.0)
}

/// Polls until `txid` is in the mempool; returns how long that took.
async fn wait_in_mempool(rpc: &RpcClient, txid: &str) -> Duration {
    let start = Instant::now();
    loop {
        if rpc
            .get_raw_mempool()
            .await
            .unwrap()
            .iter()
            .any(|t| t == txid)
        {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{txid} not in the mempool after 10 s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A started node with a funded payer wallet (101 blocks mined to it) and a mining address.
async fn node_with_payer() -> (Litecoind, RpcClient, String) {
    let node = Litecoind::start().await;
    let payer = node.create_wallet("payer").await;
    let mining = node.new_address(&payer).await;
    node.mine(101, &mining).await;
    (node, payer, mining)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn withdrawal_is_signed_by_kassa_accepted_and_confirmed() {
    if litecoind_skipped() {
        return;
    }
    let (node, payer, mining) = node_with_payer().await;
    let hot = hot_wallet();

    // Two deposits to Kassa's receive addresses 0 and 1, confirmed.
    let first = fund(&node, &payer, &hot, Branch::Receive, 0, 150_000_000).await; // 1.5 LTC
    let second = fund(&node, &payer, &hot, Branch::Receive, 1, 70_000_000).await; // 0.7 LTC
    node.mine(1, &mining).await;
    let utxos = vec![
        our_output(&node.rpc, &hot, &first, Branch::Receive, 0).await,
        our_output(&node.rpc, &hot, &second, Branch::Receive, 1).await,
    ];
    assert!(utxos.iter().all(|u| u.confirmations == 1));

    // 1.9 LTC to an address of the node's wallet, at 7 sat/vB; change to Kassa's change/0.
    let destination = node.new_address(&payer).await;
    let amount = 190_000_000;
    let rate = 7;
    let height = u32::try_from(node.rpc.get_block_count().await.unwrap()).unwrap();
    let request = Withdrawal {
        outputs: Outputs::Pay(vec![Payment {
            address: destination.clone(),
            amount,
        }]),
        fee_rate: FeeRate::from_sat_per_vb(rate),
        change_index: 0,
        lock_time: height,
    };
    let t = Instant::now();
    let signed = spend::build(&hot, &utxos, &request, &Policy::default()).unwrap();
    let built_in = t.elapsed();
    let plan = &signed.plan;
    eprintln!(
        "withdrawal: {} in / {} out, weight {}, vsize {} vB, fee {} litoshi at {}; built and signed in {built_in:?}",
        plan.inputs().len(),
        plan.outputs().len(),
        signed.weight,
        signed.vsize,
        signed.fee,
        plan.fee_rate()
    );
    // 2 P2WPKH inputs, 2 P2WPKH outputs: 208 vB.
    assert_eq!(plan.inputs().len(), 2);
    assert_eq!(signed.vsize, 208);
    assert_eq!(signed.fee, signed.vsize * rate);
    let change_address = hot.address(Branch::Change, 0).unwrap();
    let change = plan.change().unwrap();
    assert_eq!(change.address, change_address);
    assert_eq!(change.role, OutputRole::Change(0));
    let expected_change = 220_000_000 - amount - signed.fee;
    assert_eq!(change.amount, expected_change);

    // The node would take it: allowed, the same txid, vsize and fee.
    let t = Instant::now();
    let accept = test_accept(&node.rpc, &signed.hex).await;
    eprintln!("testmempoolaccept: {:?}", t.elapsed());
    assert!(accept.allowed, "{:?}", accept.reject_reason);
    assert_eq!(accept.txid, signed.txid);
    assert_eq!(accept.vsize, Some(signed.vsize));
    assert_eq!(
        accept.fees.map(|f| f.base),
        Some(Amount::from_base(u128::from(signed.fee)))
    );

    // Broadcast; in the mempool, replaceable (BIP125), with our wtxid and sizes.
    let t = Instant::now();
    let txid = node.rpc.send_raw_transaction(&signed.hex).await.unwrap();
    let in_mempool = wait_in_mempool(&node.rpc, &txid).await;
    eprintln!(
        "sendrawtransaction: {:?} to the mempool (polled {in_mempool:?})",
        t.elapsed()
    );
    assert_eq!(txid, signed.txid);
    let entry: MempoolEntry = node
        .rpc
        .call_as("getmempoolentry", json!([txid]))
        .await
        .unwrap();
    assert!(entry.replaceable, "RBF signalled");
    assert_eq!(entry.wtxid, signed.wtxid);
    assert_eq!((entry.vsize, entry.weight), (signed.vsize, signed.weight));
    assert_eq!(entry.fees.base, Amount::from_base(u128::from(signed.fee)));

    // Mined: confirmed, the destination received exactly the amount, the change is at
    // Kassa's change address, and the fee is vsize × rate.
    let t = Instant::now();
    node.mine(1, &mining).await;
    let tx = node_tx(&node.rpc, &txid).await;
    eprintln!("mined and read back: {:?}", t.elapsed());
    assert_eq!(tx.confirmations, Some(1));
    assert_eq!(tx.txid, signed.txid);
    assert_eq!(tx.hash, signed.wtxid);
    assert_eq!((tx.vsize, tx.weight), (signed.vsize, signed.weight));
    assert!(tx.vin.iter().all(|i| i.sequence == RBF_SEQUENCE));
    let to_destination: Vec<&TxOut> = tx
        .vout
        .iter()
        .filter(|o| o.script_pub_key.single_address() == Some(destination.as_str()))
        .collect();
    assert_eq!(to_destination.len(), 1);
    assert_eq!(base(to_destination[0].value), amount);
    let to_change: Vec<&TxOut> = tx
        .vout
        .iter()
        .filter(|o| o.script_pub_key.single_address() == Some(change_address.as_str()))
        .collect();
    assert_eq!(to_change.len(), 1);
    assert_eq!(base(to_change[0].value), expected_change);
    assert_eq!(to_change[0].n, change.vout);
    let spent: u64 = utxos.iter().map(|u| u.amount).sum();
    let paid: u64 = tx.vout.iter().map(|o| base(o.value)).sum();
    assert_eq!(spent - paid, tx.vsize * rate, "fee = vsize × rate");
    assert_eq!(received(&payer, &destination).await, amount);

    // The change is spendable by Kassa in turn: a second withdrawal from change/0.
    let change_utxo = our_output(&node.rpc, &hot, &txid, Branch::Change, 0).await;
    let again = spend::build(
        &hot,
        &[change_utxo],
        &Withdrawal {
            outputs: Outputs::Pay(vec![Payment {
                address: destination.clone(),
                amount: 10_000_000,
            }]),
            fee_rate: FeeRate::from_sat_per_vb(2),
            change_index: 1,
            lock_time: height + 1,
        },
        &Policy::default(),
    )
    .unwrap();
    let accept = test_accept(&node.rpc, &again.hex).await;
    assert!(accept.allowed, "{:?}", accept.reject_reason);
    assert_eq!(
        node.rpc.send_raw_transaction(&again.hex).await.unwrap(),
        again.txid
    );
    eprintln!(
        "withdrawal from the change: vsize {} vB, fee {}",
        again.vsize, again.fee
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sweep_spends_every_confirmed_output() {
    if litecoind_skipped() {
        return;
    }
    let (node, payer, mining) = node_with_payer().await;
    let hot = hot_wallet();

    // Three confirmed outputs (one on the change branch), one still unconfirmed.
    let a = fund(&node, &payer, &hot, Branch::Receive, 0, 30_000_000).await;
    let b = fund(&node, &payer, &hot, Branch::Receive, 1, 25_000_000).await;
    let c = fund(&node, &payer, &hot, Branch::Change, 0, 12_500_000).await;
    node.mine(1, &mining).await;
    let d = fund(&node, &payer, &hot, Branch::Receive, 2, 50_000_000).await;
    wait_in_mempool(&node.rpc, &d).await;
    let utxos = vec![
        our_output(&node.rpc, &hot, &a, Branch::Receive, 0).await,
        our_output(&node.rpc, &hot, &b, Branch::Receive, 1).await,
        our_output(&node.rpc, &hot, &c, Branch::Change, 0).await,
        our_output(&node.rpc, &hot, &d, Branch::Receive, 2).await,
    ];
    assert_eq!(utxos[3].confirmations, 0);

    // The fee rate from the node: regtest has no estimate, so the floor (3 sat/vB).
    let choice = spend::estimate_fee_rate(&node.rpc, 6, FeeRate::from_sat_per_vb(3))
        .await
        .unwrap();
    eprintln!("estimatesmartfee 6 with a 3 sat/vB floor: {choice:?}");
    assert!(choice.from_floor);
    assert_eq!(choice.rate, FeeRate::from_sat_per_vb(3));

    let destination = node.new_address(&payer).await;
    let request = Withdrawal {
        outputs: Outputs::Sweep {
            address: destination.clone(),
        },
        fee_rate: choice.rate,
        change_index: 9,
        lock_time: 0,
    };
    let t = Instant::now();
    let signed = spend::build(&hot, &utxos, &request, &Policy::default()).unwrap();
    let total = 30_000_000 + 25_000_000 + 12_500_000;
    eprintln!(
        "sweep: {} inputs, vsize {} vB, fee {}; built and signed in {:?}",
        signed.plan.inputs().len(),
        signed.vsize,
        signed.fee,
        t.elapsed()
    );
    // 3 inputs, 1 output: 245 vB; the unconfirmed output is left alone.
    assert_eq!(signed.plan.inputs().len(), 3);
    assert!(signed.plan.inputs().iter().all(|u| u.confirmations >= 1));
    assert_eq!(signed.vsize, 245);
    assert_eq!(signed.fee, 245 * 3);
    assert!(signed.plan.change().is_none());
    let swept = total - signed.fee;
    assert_eq!(signed.plan.payment(0).unwrap().amount, swept);

    let accept = test_accept(&node.rpc, &signed.hex).await;
    assert!(accept.allowed, "{:?}", accept.reject_reason);
    assert_eq!(accept.vsize, Some(245));
    let txid = node.rpc.send_raw_transaction(&signed.hex).await.unwrap();
    assert_eq!(txid, signed.txid);
    node.mine(1, &mining).await;
    let tx = node_tx(&node.rpc, &txid).await;
    assert_eq!(tx.confirmations, Some(1));
    assert_eq!((tx.vin.len(), tx.vout.len()), (3, 1));
    assert_eq!(base(tx.vout[0].value), swept);
    assert_eq!(received(&payer, &destination).await, swept);
    // The output that was unconfirmed is still unspent.
    let unspent = node
        .rpc
        .call("gettxout", json!([d, utxos[3].vout]))
        .await
        .unwrap();
    assert!(!unspent.is_null(), "{d}:{} is unspent", utxos[3].vout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_agree_with_the_node() {
    if litecoind_skipped() {
        return;
    }
    let (node, payer, mining) = node_with_payer().await;
    let hot = hot_wallet();
    let confirmed = fund(&node, &payer, &hot, Branch::Receive, 0, 1_000_000).await; // 0.01
    node.mine(1, &mining).await;
    let pending = fund(&node, &payer, &hot, Branch::Receive, 1, 2_000_000).await;
    wait_in_mempool(&node.rpc, &pending).await;
    let utxos = vec![
        our_output(&node.rpc, &hot, &confirmed, Branch::Receive, 0).await,
        our_output(&node.rpc, &hot, &pending, Branch::Receive, 1).await,
    ];
    let destination = node.new_address(&payer).await;
    let pay = |address: &str, amount: u64| Withdrawal {
        outputs: Outputs::Pay(vec![Payment {
            address: address.to_owned(),
            amount,
        }]),
        fee_rate: FeeRate::from_sat_per_vb(1),
        change_index: 0,
        lock_time: 0,
    };

    // Insufficient funds: 0.02 LTC from 0.01 confirmed (0.02 more unconfirmed). Spending the one
    // confirmed output without change would cost 110 vB at 1 sat/vB.
    let err = spend::build(
        &hot,
        &utxos,
        &pay(&destination, 2_000_000),
        &Policy::default(),
    )
    .unwrap_err();
    eprintln!("refused: {err}");
    assert_eq!(
        err,
        SpendError::InsufficientFunds {
            needed: 2_000_110,
            available: 1_000_000,
            missing: 1_000_110,
            unconfirmed: 2_000_000,
        }
    );

    // Dust: Litecoin's limit for a P2WPKH output is 2940 litoshi, for Kassa and for the node.
    assert!(matches!(
        spend::plan(
            hot.watch_only(),
            &utxos,
            &pay(&destination, 2_939),
            &Policy::default()
        ),
        Err(SpendError::BelowDust { dust: 2_940, .. })
    ));
    let node_refusal = payer
        .call("sendtoaddress", json!([destination, "0.00002939"]))
        .await
        .unwrap_err();
    assert!(
        node_refusal.to_string().contains("amount too small"),
        "{node_refusal}"
    );
    let at_dust =
        spend::build(&hot, &utxos, &pay(&destination, 2_940), &Policy::default()).unwrap();
    let accept = test_accept(&node.rpc, &at_dust.hex).await;
    assert!(accept.allowed, "{:?}", accept.reject_reason);

    // Another network's address is refused by Kassa, and the node does not know it either.
    let bitcoin_regtest =
        kassa_chain::address::utxo::p2wpkh(Coin::Bitcoin, Chain::Regtest, &[7; 20]);
    let err = spend::plan(
        hot.watch_only(),
        &utxos,
        &pay(&bitcoin_regtest, 100_000),
        &Policy::default(),
    )
    .unwrap_err();
    assert!(
        matches!(
            &err,
            SpendError::Destination {
                error: DestinationError::WrongNetwork {
                    found: "a Bitcoin regtest",
                    ..
                },
                ..
            }
        ),
        "{err}"
    );
    assert!(
        !node
            .rpc
            .validate_address(&bitcoin_regtest)
            .await
            .unwrap()
            .isvalid
    );

    // The fee taken from the amount: the recipient gets 0.005 LTC less the fee.
    let from_amount = Withdrawal {
        outputs: Outputs::PayFeeFromAmount(Payment {
            address: destination.clone(),
            amount: 500_000,
        }),
        ..pay(&destination, 0)
    };
    let signed = spend::build(&hot, &utxos, &from_amount, &Policy::default()).unwrap();
    assert_eq!(signed.plan.payment(0).unwrap().amount, 500_000 - signed.fee);
    assert_eq!(signed.plan.change().unwrap().amount, 500_000);
    assert_eq!(signed.fee, signed.vsize);
    let accept = test_accept(&node.rpc, &signed.hex).await;
    assert!(accept.allowed, "{:?}", accept.reject_reason);
}
