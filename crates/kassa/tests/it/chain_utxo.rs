//! Kassa's UTXO keys and node client against a real `litecoind -regtest`: addresses derived
//! from an account key are the node's own (`validateaddress`, `deriveaddresses` of the same
//! descriptor), and a payment to one is seen in the mempool and then in a block, with its exact
//! amount at the right output.

use std::time::{Duration, Instant};

use kassa_chain::Chain;
use kassa_chain::hd::{Branch, Coin, HotWallet, Mnemonic, WatchOnlyWallet, XpubFormat};
use kassa_chain::rpc::{RpcClient, TxOut};
use kassa_core::money::Amount;

use crate::support::litecoind::{Litecoind, litecoind_skipped};

const COIN: Coin = Coin::Litecoin;
const CHAIN: Chain = Chain::Regtest;

fn hot_wallet() -> HotWallet {
    let mnemonic = Mnemonic::generate().unwrap();
    HotWallet::from_mnemonic(&mnemonic, "", COIN, CHAIN).unwrap()
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// The outputs of `vout` that pay `address`.
fn paying<'a>(vout: &'a [TxOut], address: &str) -> Vec<&'a TxOut> {
    vout.iter()
        .filter(|o| o.script_pub_key.single_address() == Some(address))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn derived_addresses_are_the_nodes() {
    if litecoind_skipped() {
        return;
    }
    let node = Litecoind::start().await;
    eprintln!(
        "litecoind -regtest: RPC answered {:?} after spawn",
        node.started_in
    );

    // RPC round trip on an idle node.
    let mut samples = Vec::new();
    for _ in 0..50 {
        let t = Instant::now();
        node.rpc.get_block_count().await.unwrap();
        samples.push(t.elapsed());
    }
    eprintln!(
        "getblockcount round trip: median {:?} over 50",
        median(samples)
    );

    // A hot wallet, and a watch-only wallet from its account key in the SLIP-132 (vpub) form.
    let hot = hot_wallet();
    let vpub = hot.watch_only().account_xpub_as(XpubFormat::Vpub).unwrap();
    let tpub = hot.watch_only().account_xpub();
    assert!(vpub.starts_with("vpub") && tpub.starts_with("tpub"));
    let watch = WatchOnlyWallet::from_account_xpub(COIN, CHAIN, &vpub).unwrap();
    assert_eq!(watch.account_xpub(), tpub);

    const N: u32 = 20;
    let t = Instant::now();
    let ours: Vec<String> = (0..N)
        .map(|i| watch.address(Branch::Receive, i).unwrap())
        .collect();
    eprintln!("derived {N} addresses from the vpub in {:?}", t.elapsed());
    for (i, address) in (0..N).zip(&ours) {
        assert!(address.starts_with("rltc1q"), "{address}");
        assert_eq!(*address, hot.address(Branch::Receive, i).unwrap());
        let info = node.rpc.validate_address(address).await.unwrap();
        assert!(info.isvalid, "{address}: {info:?}");
        assert_eq!(info.iswitness, Some(true));
        assert_eq!(info.isscript, Some(false));
        assert_eq!(info.witness_version, Some(0));
        let program = to_hex(&watch.key_hash(Branch::Receive, i).unwrap());
        assert_eq!(info.witness_program.as_deref(), Some(program.as_str()));
        assert_eq!(info.script_pub_key, Some(format!("0014{program}")));
    }
    // Another chain's spelling of the same key is not valid here.
    let mainnet = kassa_chain::address::utxo::p2wpkh(
        COIN,
        Chain::Mainnet,
        &watch.key_hash(Branch::Receive, 0).unwrap(),
    );
    assert!(!node.rpc.validate_address(&mainnet).await.unwrap().isvalid);

    // The node derives the same addresses from the ranged descriptor of each branch.
    for (branch, count) in [(Branch::Receive, N), (Branch::Change, 5)] {
        let descriptor = watch.descriptor(branch);
        let info = node.rpc.get_descriptor_info(&descriptor).await.unwrap();
        assert!(info.isrange && !info.hasprivatekeys, "{info:?}");
        let with_checksum = format!("{descriptor}#{}", info.checksum);
        let t = Instant::now();
        let theirs = node
            .rpc
            .derive_addresses(&with_checksum, Some((0, count - 1)))
            .await
            .unwrap();
        eprintln!("deriveaddresses {branch:?} 0..{count}: {:?}", t.elapsed());
        let ours: Vec<String> = (0..count)
            .map(|i| watch.address(branch, i).unwrap())
            .collect();
        assert_eq!(theirs, ours, "{branch:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payments_to_derived_addresses_are_seen_and_mined() {
    if litecoind_skipped() {
        return;
    }
    let node = Litecoind::start().await;
    eprintln!(
        "litecoind -regtest: RPC answered {:?} after spawn",
        node.started_in
    );
    let t = Instant::now();
    let payer = node.create_wallet("payer").await;
    eprintln!("createwallet: {:?}", t.elapsed());
    let mining = node.new_address(&payer).await;
    let t = Instant::now();
    node.mine(101, &mining).await;
    eprintln!("generatetoaddress 101: {:?}", t.elapsed());

    let hot = hot_wallet();
    let deposit = hot.address(Branch::Receive, 0).unwrap();
    let second = hot.address(Branch::Receive, 1).unwrap();
    let change = hot.address(Branch::Change, 0).unwrap();

    // One payment alone, one transaction paying two of Kassa's addresses.
    let exact = Amount::from_base(123_456_789); // 1.23456789 LTC
    let t = Instant::now();
    let txid = node.send(&payer, &deposit, exact).await;
    let send_rpc = t.elapsed();
    wait_in_mempool(&node.rpc, &txid).await;
    eprintln!(
        "sendtoaddress: {send_rpc:?}; from the send to the txid in getrawmempool: {:?}",
        t.elapsed()
    );
    let many = node
        .send_many(
            &payer,
            &[
                (&second, Amount::from_base(10_000_000)), // 0.1
                (&change, Amount::from_base(54_321)),     // 0.00054321
            ],
        )
        .await;
    wait_in_mempool(&node.rpc, &many).await;

    // Before mining: in the mempool, unconfirmed, already readable with its exact amount.
    let unconfirmed = node.rpc.get_raw_transaction(&txid, None).await.unwrap();
    assert_eq!(unconfirmed.blockhash, None);
    assert!(unconfirmed.confirmations.unwrap_or(0) == 0);
    let outputs = paying(&unconfirmed.vout, &deposit);
    assert_eq!(outputs.len(), 1, "{:?}", unconfirmed.vout);
    let mempool_vout = outputs[0].n;
    assert_eq!(outputs[0].value, exact);

    // Mined: the block read through Kassa's client carries both transactions.
    let tip_before = node.rpc.get_best_block_hash().await.unwrap();
    let hashes = node.mine(1, &mining).await;
    let hash = &hashes[0];
    assert_eq!(node.rpc.get_block_count().await.unwrap(), 102);
    assert_eq!(node.rpc.get_block_hash(102).await.unwrap(), *hash);
    assert_eq!(node.rpc.get_best_block_hash().await.unwrap(), *hash);
    let info = node.rpc.get_blockchain_info().await.unwrap();
    assert_eq!((info.chain.as_str(), info.blocks), ("regtest", 102));
    let t = Instant::now();
    let block = node.rpc.get_block(hash).await.unwrap();
    eprintln!(
        "getblock (verbosity 2, {} txs) + parse: {:?}",
        block.tx.len(),
        t.elapsed()
    );
    assert_eq!(block.hash, *hash);
    assert_eq!(block.height, 102);
    assert_eq!(block.confirmations, 1);
    assert_eq!(
        block.previousblockhash.as_deref(),
        Some(tip_before.as_str())
    );
    assert!(block.tx[0].vin[0].coinbase.is_some());

    let tx = block
        .tx
        .iter()
        .find(|t| t.txid == txid)
        .expect("payment in the block");
    let outputs = paying(&tx.vout, &deposit);
    assert_eq!(outputs.len(), 1);
    let out = outputs[0];
    assert_eq!(out.value, exact);
    assert_eq!(out.n, mempool_vout);
    assert_eq!(tx.vout[out.n as usize].n, out.n, "vout is listed by index");
    let program = to_hex(&hot.watch_only().key_hash(Branch::Receive, 0).unwrap());
    assert_eq!(out.script_pub_key.hex, format!("0014{program}"));
    assert_eq!(out.script_pub_key.kind, "witness_v0_keyhash");
    assert!(
        tx.vin.iter().all(|i| i.previous_output().is_some()),
        "spends outputs"
    );

    let tx = block
        .tx
        .iter()
        .find(|t| t.txid == many)
        .expect("sendmany in the block");
    let to_second = paying(&tx.vout, &second);
    let to_change = paying(&tx.vout, &change);
    assert_eq!(to_second.len(), 1);
    assert_eq!(to_change.len(), 1);
    assert_eq!(to_second[0].value, Amount::from_base(10_000_000));
    assert_eq!(to_change[0].value, Amount::from_base(54_321));
    assert_ne!(to_second[0].n, to_change[0].n);

    // The sum of the block's outputs, exactly: the coinbase takes 50 LTC plus the fees.
    let coinbase: u128 = block.tx[0].vout.iter().map(|o| o.value.base()).sum();
    assert!(
        coinbase > 5_000_000_000 && coinbase < 5_001_000_000,
        "{coinbase}"
    );

    // After mining, the mempool is empty and the transaction has its block.
    assert!(node.rpc.get_raw_mempool().await.unwrap().is_empty());
    let confirmed = node.rpc.get_raw_transaction(&txid, None).await.unwrap();
    assert_eq!(confirmed.blockhash.as_deref(), Some(hash.as_str()));
    assert_eq!(confirmed.confirmations, Some(1));

    // The node's wallet does not know Kassa's keys, but the signing key matches the output.
    let key = hot.signing_key(Branch::Receive, 0).unwrap();
    assert_eq!(to_hex(&key.key_hash()), program);

    // Fee estimation answers (without history a regtest node may have no rate yet).
    let fee = node.rpc.estimate_smart_fee(2, None).await.unwrap();
    eprintln!("estimatesmartfee 2: {fee:?}");
    assert!(fee.feerate.is_some() || !fee.errors.is_empty());
}

/// Polls `getrawmempool` every 10 ms until `txid` is in it.
async fn wait_in_mempool(rpc: &RpcClient, txid: &str) {
    let start = Instant::now();
    loop {
        if rpc
            .get_raw_mempool()
            .await
            .unwrap()
            .iter()
            .any(|t| t == txid)
        {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{txid} not in the mempool after 10 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
