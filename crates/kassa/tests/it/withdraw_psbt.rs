//! A watch-only wallet's withdrawal, round trip through the binary: Kassa knows only the
//! account key (`xpub`), the keys live in litecoind's own wallet. The merchant asks; the job
//! plans it and keeps a PSBT (amount and fee stay reserved); `kassa wallet psbt` prints it;
//! litecoind signs it (`walletprocesspsbt`); `kassa wallet broadcast` refuses what is not
//! signed, then checks and sends the signed one, which confirms and pays exactly the amount.
//! Also: an operator's refusal of a waiting PSBT returns its funds.

use std::str::FromStr as _;

use bitcoin::bip32::{DerivationPath, Xpriv, Xpub};
use bitcoin::secp256k1::Secp256k1;
use kassa_core::money::Amount;
use kassa_service::withdrawals::requests;
use kassa_store::ledger;
use kassa_store::withdrawal_requests::{self as store, Source, Stage};
use kassa_store::withdrawals::WithdrawalState;
use serde_json::{Value, json};

use crate::engine_test;
use crate::support::litecoind::{Litecoind, litecoind_skipped};
use crate::support::process::run_in;
use crate::withdrawals::{Rig, ltc, sat};

/// The well-known test phrase; never for real money.
const PHRASE: &str =
    "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";

/// The account `m/84'/1'/0'` of [`PHRASE`]: its private and public keys (tprv, tpub).
fn account_keys() -> (String, String) {
    let seed = bip39::Mnemonic::parse(PHRASE).unwrap().to_seed("");
    let secp = Secp256k1::new();
    let master = Xpriv::new_master(bitcoin::NetworkKind::Test, &seed).unwrap();
    let account = master
        .derive_priv(&secp, &DerivationPath::from_str("m/84'/1'/0'").unwrap())
        .unwrap();
    (
        account.to_string(),
        Xpub::from_priv(&secp, &account).to_string(),
    )
}

/// A legacy wallet in the node holding the account's private keys (Debian's litecoind has no
/// descriptor wallets), both branches, the first 200 indexes.
async fn cold_wallet(node: &Litecoind, tprv: &str) -> kassa_chain::rpc::RpcClient {
    node.rpc
        .call("createwallet", json!(["cold", false, true]))
        .await
        .unwrap();
    let cold = node.rpc.for_wallet("cold");
    for (branch, internal) in [(0, false), (1, true)] {
        let desc = format!("wpkh({tprv}/{branch}/*)");
        let info: Value = node
            .rpc
            .call("getdescriptorinfo", json!([desc]))
            .await
            .unwrap();
        let checksum = info["checksum"].as_str().unwrap();
        let done: Value = cold
            .call(
                "importmulti",
                json!([[{"desc": format!("{desc}#{checksum}"), "range": [0, 200], "timestamp": "now", "internal": internal, "watchonly": false}]]),
            )
            .await
            .unwrap();
        assert_eq!(done[0]["success"], true, "{done}");
    }
    cold
}

engine_test!(
    async fn a_watch_only_withdrawal_goes_out_as_a_psbt_the_nodes_wallet_signs(engine) {
        if litecoind_skipped() {
            return;
        }
        let (tprv, tpub) = account_keys();
        let node = Litecoind::start().await;
        let cold = cold_wallet(&node, &tprv).await;
        let r = Rig::on(node, engine, false, |s| s.chains.ltc.xpub = tpub.clone()).await;
        // Two payments: two outputs, one for each PSBT below.
        let merchant = r.paid_invoice(100.0).await;
        r.paid_invoice(100.0).await;
        let start = r.available(merchant).await;
        let to = r.node.new_address(&r.payer).await;
        let kassa = kassa_service::audit::Actor::kassa();
        let ask = |amount: &str| requests::Ask {
            merchant,
            network: ltc().network,
            currency: ltc(),
            destination: &to,
            amount: requests::Asked::Exact(Amount::parse(amount, 8).unwrap()),
            source: Source::Dashboard,
            actor: &kassa,
            rule: None,
            address: None,
        };
        let asked = |amount: &'static str| {
            let r = &r;
            let a = ask(amount);
            async move { requests::ask(&r.app.state, &a).await.unwrap() }
        };
        let made = asked("0.2").await;
        let other = asked("0.1").await;
        r.app.drain_jobs().await;
        let waiting = store::by_public_id(&mut r.app.state.db.conn().await.unwrap(), &made.public_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(waiting.stage, Stage::Signature, "{waiting:?}");
        assert!(waiting.psbt.is_some() && !waiting.consumes.is_empty());
        let fee = u64::try_from(waiting.fee.unwrap().base()).unwrap();
        let other_row = store::by_public_id(&mut r.app.state.db.conn().await.unwrap(), &other.public_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(other_row.stage, Stage::Signature, "{other_row:?}");
        assert!(
            waiting.consumes.iter().all(|o| !other_row.consumes.contains(o)),
            "two waiting PSBTs never spend the same output"
        );
        r.books_balance().await;

        let dir = r.app.db.dir().to_owned();
        let url = r.app.db.url_text();
        let env = [
            ("KASSA_DATABASE_URL", url.as_str()),
            ("KASSA_DATA_DIR", dir.to_str().unwrap()),
            ("KASSA_CHAINS_LTC_RPC_URL", r.node.rpc.url()),
            ("KASSA_CHAINS_LTC_CHAIN", "regtest"),
            ("KASSA_CHAINS_LTC_RPC_USER", "kassa"),
            ("KASSA_CHAINS_LTC_RPC_PASSWORD", "regtest-only"),
            ("KASSA_CHAINS_LTC_CONFIRMATIONS", "1"),
            ("KASSA_CHAINS_LTC_XPUB", tpub.as_str()),
        ];
        let listed = run_in(&dir, &["wallet", "requests"], &env);
        assert!(listed.status.success(), "{}", String::from_utf8_lossy(&listed.stderr));
        let listed = String::from_utf8_lossy(&listed.stdout).to_string();
        assert!(listed.contains(&format!("WD-{}", made.public_id)) && listed.contains("\"stage\":\"signature\""), "{listed}");
        let id = format!("WD-{}", made.public_id);
        let out = run_in(&dir, &["wallet", "psbt", &id], &env);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let psbt = String::from_utf8(out.stdout).unwrap().trim().to_owned();

        // Handed back unsigned: refused, nothing recorded.
        let unsigned = dir.join("unsigned.psbt");
        std::fs::write(&unsigned, &psbt).unwrap();
        let out = run_in(&dir, &["wallet", "broadcast", &id, unsigned.to_str().unwrap()], &env);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains("not signed"), "{err}");
        let still = store::by_public_id(&mut r.app.state.db.conn().await.unwrap(), &made.public_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(still.stage, Stage::Signature);

        // Signed by the node's wallet, handed back: checked, recorded, sent.
        let signed: Value = cold.call("walletprocesspsbt", json!([psbt])).await.unwrap();
        assert_eq!(signed["complete"], true, "{signed}");
        let file = dir.join("signed.psbt");
        std::fs::write(&file, signed["psbt"].as_str().unwrap()).unwrap();
        let out = run_in(&dir, &["wallet", "broadcast", &id, file.to_str().unwrap()], &env);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let sent: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(sent["status"], "processing", "{sent}");
        let txid = sent["txid"].as_str().unwrap().to_owned();
        assert!(r.mempool().await.contains(&txid));
        assert_eq!(r.available(merchant).await + sat("0.1") + u64::try_from(other_row.fee.unwrap().base()).unwrap(), start - sat("0.2") - fee);

        // The operator refuses the other: its funds come back.
        let out = run_in(&dir, &["wallet", "refuse", &format!("WD-{}", other.public_id), "--reason", "use another address"], &env);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(r.available(merchant).await, start - sat("0.2") - fee);

        r.node.mine(1, &r.miner).await;
        let w = store::by_public_id(&mut r.app.state.db.conn().await.unwrap(), &made.public_id)
            .await
            .unwrap()
            .unwrap();
        r.wait_for_states(&[(w.withdrawal.unwrap(), WithdrawalState::Confirmed)]).await;
        assert_eq!(r.received(&to).await, sat("0.2"), "exactly what was asked arrived");
        let b = ledger::balances(&mut r.app.state.db.conn().await.unwrap(), merchant).await.unwrap();
        assert!(b.get(&(ledger::Kind::MerchantWithdrawing, "LTC".to_owned())).is_none_or(|a| a.is_zero()));
        r.books_balance().await;
        r.app.stop().await;
    }
);
