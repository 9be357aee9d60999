use bitcoin::hashes::sha256d;
use bitcoin::sighash::{EcdsaSighashType, SighashCache};
use bitcoin::transaction::Version;
use bitcoin::{Sequence, absolute};
use proptest::prelude::*;

use super::*;
use crate::hd::{HotWallet, Mnemonic};
use crate::spend::{Destination, FeeRate, Outputs, Payment, Policy, Txid, Utxo, Withdrawal};

const ABANDON: &str =
    "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";

fn hot(passphrase: &str, coin: Coin) -> HotWallet {
    let mnemonic = Mnemonic::parse(ABANDON).unwrap();
    HotWallet::from_mnemonic(&mnemonic, passphrase, coin, Chain::Regtest).unwrap()
}

fn ltc() -> HotWallet {
    hot("", Coin::Litecoin)
}

fn utxo(n: u64, amount: u64, branch: Branch, index: u32) -> Utxo {
    Utxo {
        txid: Txid::from_raw_hash(sha256d::Hash::hash(&n.to_le_bytes())),
        vout: (n % 3) as u32,
        amount,
        branch,
        index,
        confirmations: 6,
    }
}

/// Someone else's address (the same mnemonic with a passphrase).
fn elsewhere(index: u32) -> String {
    hot("elsewhere", Coin::Litecoin)
        .address(Branch::Receive, index)
        .unwrap()
}

fn pay(amount: u64) -> Withdrawal {
    Withdrawal {
        outputs: Outputs::Pay(vec![Payment {
            address: elsewhere(0),
            amount,
        }]),
        fee_rate: FeeRate::from_sat_per_vb(2),
        change_index: 7,
        lock_time: 321,
    }
}

/// Two inputs (one of them earlier change), 0.1 LTC out and change back.
fn planned(w: &HotWallet) -> Plan {
    let utxos = [
        utxo(1, 6_000_000, Branch::Receive, 3),
        utxo(2, 5_000_000, Branch::Change, 2),
    ];
    let plan =
        super::super::plan(w.watch_only(), &utxos, &pay(10_000_000), &Policy::default()).unwrap();
    assert_eq!((plan.inputs().len(), plan.outputs().len()), (2, 2));
    plan
}

fn read(text: &str) -> Psbt {
    Psbt::deserialize(&STANDARD.decode(text).unwrap()).unwrap()
}

fn text(psbt: &Psbt) -> String {
    STANDARD.encode(psbt.serialize())
}

/// Input `index`'s signature by the key at (`branch`, `key_index`), over the digest of input
/// `digest_of`, as a PSBT partial signature.
fn partial_sig(
    w: &HotWallet,
    plan: &Plan,
    (branch, key_index): (Branch, u32),
    digest_of: usize,
) -> (bitcoin::PublicKey, bitcoin::ecdsa::Signature) {
    let key = w.signing_key(branch, key_index).unwrap();
    let spent = &plan.inputs()[digest_of];
    let owner = plan.key_hashes[digest_of];
    let mut cache = SighashCache::new(plan.unsigned_transaction());
    let digest = sign::sighash(&mut cache, digest_of, owner, spent.amount).unwrap();
    (
        bitcoin::PublicKey::new(key.public_key()),
        bitcoin::ecdsa::Signature {
            signature: sign::sign(&key, digest),
            sighash_type: EcdsaSighashType::All,
        },
    )
}

/// The exported PSBT with every input's partial signature, as a signer would return it.
fn signed_psbt(w: &HotWallet, plan: &Plan, exported: &str) -> Psbt {
    let mut psbt = read(exported);
    for (index, input) in psbt.inputs.iter_mut().enumerate() {
        let spent = &plan.inputs()[index];
        let (key, sig) = partial_sig(w, plan, (spent.branch, spent.index), index);
        input.partial_sigs.insert(key, sig);
    }
    psbt
}

/// The signed PSBT's transaction, via `accept`.
fn signed_tx(w: &HotWallet, plan: &Plan, exported: &str) -> Transaction {
    accept(exported, &text(&signed_psbt(w, plan, exported)))
        .unwrap()
        .transaction
}

#[test]
fn the_exported_psbt_carries_utxos_and_key_origins() {
    let w = ltc();
    let plan = planned(&w);
    let exported = unsigned(w.watch_only(), &plan).unwrap();
    assert!(exported.starts_with("cHNidP8"), "{exported}");
    let psbt = read(&exported);
    assert_eq!(psbt.version, 0);
    assert_eq!(&psbt.unsigned_tx, plan.unsigned_transaction());
    let fingerprint = w.watch_only().account_fingerprint();
    assert_ne!(fingerprint, w.master_fingerprint());
    for (input, spent) in psbt.inputs.iter().zip(plan.inputs()) {
        let key = w
            .watch_only()
            .public_key(spent.branch, spent.index)
            .unwrap();
        let utxo = input.witness_utxo.as_ref().unwrap();
        assert_eq!(utxo.value.to_sat(), spent.amount);
        assert_eq!(
            utxo.script_pubkey,
            sign::p2wpkh_script(w.watch_only().key_hash(spent.branch, spent.index).unwrap())
        );
        let origin = (fingerprint, path(spent.branch, spent.index).unwrap());
        assert_eq!(input.bip32_derivation.len(), 1);
        assert_eq!(input.bip32_derivation.get(&key), Some(&origin));
        assert_eq!(
            origin.1.to_string(),
            format!("{}/{}", spent.branch.number(), spent.index)
        );
        assert!(input.non_witness_utxo.is_none() && input.partial_sigs.is_empty());
    }
    let paths: Vec<String> = psbt
        .inputs
        .iter()
        .flat_map(|i| {
            i.bip32_derivation
                .values()
                .map(|(_, path)| path.to_string())
        })
        .collect();
    assert!(
        paths.contains(&"0/3".into()) && paths.contains(&"1/2".into()),
        "{paths:?}"
    );
    for (output, planned) in psbt.outputs.iter().zip(plan.outputs()) {
        match planned.role {
            OutputRole::Change(index) => {
                let key = w.watch_only().public_key(Branch::Change, index).unwrap();
                let origin = output.bip32_derivation.get(&key).unwrap();
                assert_eq!(origin.0, fingerprint);
                assert_eq!(origin.1.to_string(), "1/7");
            }
            OutputRole::Payment(_) => assert!(output.bip32_derivation.is_empty()),
        }
    }
    assert_eq!(network_of(&psbt), Some((Coin::Litecoin, Chain::Regtest)));
    assert_eq!(
        psbt.proprietary.get(&network_key()).map(Vec::as_slice),
        Some(&b"litecoin-regtest"[..])
    );
}

#[test]
fn another_wallet_does_not_export() {
    let w = ltc();
    let plan = planned(&w);
    let bitcoin = hot("", Coin::Bitcoin);
    assert_eq!(
        unsigned(bitcoin.watch_only(), &plan),
        Err(SpendError::WrongWallet)
    );
    let other = hot("other", Coin::Litecoin);
    assert_eq!(
        unsigned(other.watch_only(), &plan),
        Err(SpendError::WrongWallet)
    );
}

#[test]
fn signed_psbts_and_transactions_round_trip() {
    let w = ltc();
    let plan = planned(&w);
    let exported = unsigned(w.watch_only(), &plan).unwrap();
    let hot_signed = super::super::sign(&w, plan.clone()).unwrap();

    // Partial signatures only: finalized here.
    let partial = signed_psbt(&w, &plan, &exported);
    let accepted = accept(&exported, &text(&partial)).unwrap();
    assert_eq!(accepted.txid, hot_signed.txid);
    assert_eq!(
        accepted.txid,
        plan.unsigned_transaction().compute_txid().to_string()
    );
    // The same deterministic signatures as the hot wallet's.
    assert_eq!(accepted.hex, hot_signed.hex);
    assert_eq!(accepted.transaction, hot_signed.transaction);
    assert_eq!(
        (accepted.fee, accepted.weight, accepted.vsize),
        (plan.fee(), plan.weight(), plan.vsize())
    );

    // Finalized, as `walletprocesspsbt` returns it.
    let mut finalized = partial.clone();
    for (input, txin) in finalized.inputs.iter_mut().zip(&accepted.transaction.input) {
        input.partial_sigs.clear();
        input.bip32_derivation.clear();
        input.final_script_witness = Some(txin.witness.clone());
    }
    assert_eq!(accept(&exported, &text(&finalized)).unwrap(), accepted);

    // A raw transaction, as `finalizepsbt` returns it; whitespace around and inside.
    assert_eq!(accept(&exported, &accepted.hex).unwrap(), accepted);
    let (head, tail) = accepted.hex.split_at(100);
    let wrapped = format!("  {head}\n{tail}\r\n");
    assert_eq!(accept(&exported, &wrapped).unwrap(), accepted);
    // A PSBT in hex.
    let psbt_hex = hex::encode(partial.serialize());
    assert_eq!(accept(&exported, &psbt_hex).unwrap(), accepted);
    // A signature by another key alongside the right one does not matter.
    let mut extra = partial;
    let (key, sig) = partial_sig(&w, &plan, (Branch::Receive, 50), 0);
    extra.inputs[0].partial_sigs.insert(key, sig);
    assert_eq!(accept(&exported, &text(&extra)).unwrap(), accepted);
}

#[test]
fn changed_outputs_are_refused() {
    let w = ltc();
    let plan = planned(&w);
    let exported = unsigned(w.watch_only(), &plan).unwrap();
    let signed = signed_tx(&w, &plan, &exported);
    let payment = plan.payment(0).unwrap();
    let vout = payment.vout as usize;
    let check = |tx: &Transaction| accept(&exported, &serialize_hex(tx)).unwrap_err();

    let mut tx = signed.clone();
    tx.output[vout].value = bitcoin::Amount::from_sat(20_000_000);
    let err = check(&tx);
    assert_eq!(
        err.to_string(),
        format!(
            "output {vout} pays 0.2 LTC to {0}, but the request was 0.1 LTC to {0}",
            elsewhere(0)
        )
    );

    let mut tx = signed.clone();
    tx.output[vout].script_pubkey =
        Destination::parse(Coin::Litecoin, Chain::Regtest, &elsewhere(1))
            .unwrap()
            .script_pubkey()
            .clone();
    let err = check(&tx);
    assert!(matches!(err, PsbtError::Output { index, .. } if index == vout));
    assert!(
        err.to_string()
            .contains(&format!("pays 0.1 LTC to {}", elsewhere(1))),
        "{err}"
    );

    let mut tx = signed.clone();
    tx.output.push(tx.output[vout].clone());
    assert_eq!(
        check(&tx),
        PsbtError::OutputCount {
            found: 3,
            expected: 2
        }
    );
    assert_eq!(
        check(&tx).to_string(),
        "the transaction has 3 outputs, but the request has 2"
    );

    let mut tx = signed.clone();
    tx.output.remove(0);
    assert_eq!(
        check(&tx),
        PsbtError::OutputCount {
            found: 1,
            expected: 2
        }
    );

    let mut tx = signed.clone();
    tx.output.swap(0, 1);
    assert!(matches!(check(&tx), PsbtError::Output { index: 0, .. }));

    let mut tx = signed.clone();
    tx.version = Version::ONE;
    assert_eq!(
        check(&tx),
        PsbtError::Version {
            found: 1,
            expected: 2
        }
    );

    let mut tx = signed.clone();
    tx.lock_time = absolute::LockTime::ZERO;
    assert_eq!(
        check(&tx),
        PsbtError::LockTime {
            found: 0,
            expected: 321
        }
    );

    let mut tx = signed.clone();
    tx.input[1].sequence = Sequence::MAX;
    assert!(matches!(check(&tx), PsbtError::Sequence { index: 1, .. }));

    let mut tx = signed;
    tx.input.swap(0, 1);
    assert!(matches!(check(&tx), PsbtError::Input { index: 0, .. }));
}

#[test]
fn missing_signatures_are_refused() {
    let w = ltc();
    let plan = planned(&w);
    let exported = unsigned(w.watch_only(), &plan).unwrap();

    // The exported PSBT handed back as it was.
    assert_eq!(
        accept(&exported, &exported),
        Err(PsbtError::NotSigned { index: 0 })
    );
    assert_eq!(
        accept(&exported, &exported).unwrap_err().to_string(),
        "input 0 is not signed"
    );
    // One partial signature missing.
    let mut psbt = signed_psbt(&w, &plan, &exported);
    psbt.inputs[1].partial_sigs.clear();
    assert_eq!(
        accept(&exported, &text(&psbt)),
        Err(PsbtError::NotSigned { index: 1 })
    );
    // A raw transaction with one witness missing; the unsigned transaction.
    let mut tx = signed_tx(&w, &plan, &exported);
    tx.input[1].witness = Witness::new();
    assert_eq!(
        accept(&exported, &serialize_hex(&tx)),
        Err(PsbtError::NotSigned { index: 1 })
    );
    assert_eq!(
        accept(&exported, &serialize_hex(plan.unsigned_transaction())),
        Err(PsbtError::NotSigned { index: 0 })
    );
}

#[test]
fn wrong_signatures_are_refused() {
    let w = ltc();
    let plan = planned(&w);
    let exported = unsigned(w.watch_only(), &plan).unwrap();
    let good = signed_psbt(&w, &plan, &exported);

    // Signed by a key of the wallet that does not own the output.
    let mut psbt = good.clone();
    let (key, sig) = partial_sig(&w, &plan, (Branch::Receive, 4), 0);
    psbt.inputs[0].partial_sigs = [(key, sig)].into();
    assert_eq!(
        accept(&exported, &text(&psbt)),
        Err(PsbtError::WrongKey { index: 0 })
    );
    let mut tx = signed_tx(&w, &plan, &exported);
    tx.input[0].witness = Witness::p2wpkh(&sig, &key.inner);
    assert_eq!(
        accept(&exported, &serialize_hex(&tx)),
        Err(PsbtError::WrongKey { index: 0 })
    );

    // The right key, but the other input's digest.
    let mut psbt = good.clone();
    let spent = &plan.inputs()[1];
    let (key, sig) = partial_sig(&w, &plan, (spent.branch, spent.index), 0);
    psbt.inputs[1].partial_sigs = [(key, sig)].into();
    let err = accept(&exported, &text(&psbt)).unwrap_err();
    assert!(matches!(err, PsbtError::Signature(_)), "{err}");
    assert!(
        err.to_string().starts_with("invalid signature: input 1"),
        "{err}"
    );

    // Another sighash type.
    let mut psbt = good.clone();
    for sig in psbt.inputs[0].partial_sigs.values_mut() {
        sig.sighash_type = EcdsaSighashType::None;
    }
    assert!(matches!(
        accept(&exported, &text(&psbt)),
        Err(PsbtError::Signature(_))
    ));

    // A finalized witness with a third item.
    let mut tx = signed_tx(&w, &plan, &exported);
    tx.input[0].witness.push([1u8]);
    assert!(matches!(
        accept(&exported, &serialize_hex(&tx)),
        Err(PsbtError::Signature(_))
    ));
}

#[test]
fn a_psbt_for_other_inputs_is_refused() {
    let w = ltc();
    let plan = planned(&w);
    let exported = unsigned(w.watch_only(), &plan).unwrap();
    let utxos = [
        utxo(5, 6_000_000, Branch::Receive, 3),
        utxo(6, 5_000_000, Branch::Change, 2),
    ];
    let other =
        super::super::plan(w.watch_only(), &utxos, &pay(10_000_000), &Policy::default()).unwrap();
    let other_exported = unsigned(w.watch_only(), &other).unwrap();
    let psbt = signed_psbt(&w, &other, &other_exported);
    let err = accept(&exported, &text(&psbt)).unwrap_err();
    assert!(matches!(err, PsbtError::Input { index: 0, .. }), "{err}");
    assert!(err.to_string().contains("signed for other inputs"), "{err}");
    // Fewer inputs.
    let one = super::super::plan(
        w.watch_only(),
        &utxos[..1],
        &pay(1_000_000),
        &Policy::default(),
    )
    .unwrap();
    let one_exported = unsigned(w.watch_only(), &one).unwrap();
    let psbt = signed_psbt(&w, &one, &one_exported);
    assert!(matches!(
        accept(&exported, &text(&psbt)),
        Err(PsbtError::InputCount {
            found: 1,
            expected: 2
        })
    ));
}

#[test]
fn garbage_is_refused() {
    let w = ltc();
    let plan = planned(&w);
    let exported = unsigned(w.watch_only(), &plan).unwrap();
    let signed = text(&signed_psbt(&w, &plan, &exported));

    assert_eq!(accept(&exported, ""), Err(PsbtError::Empty));
    assert_eq!(accept(&exported, " \n\t"), Err(PsbtError::Empty));
    for garbage in [
        "hello world",
        "zz",
        "abc",
        "00",
        "0200000001",
        "bm90IGEgUFNCVA==",
        "cHNidP8=",
        &signed[..signed.len() / 2],
        "ünïcödé",
    ] {
        let err = accept(&exported, garbage).unwrap_err();
        assert!(matches!(err, PsbtError::Unreadable(_)), "{garbage}: {err}");
        assert!(
            err.to_string().starts_with("not a PSBT or a transaction"),
            "{err}"
        );
    }
    assert_eq!(
        accept(&exported, "0200000001f").unwrap_err().to_string(),
        "not a PSBT or a transaction: the hex has an odd number of digits: some are missing"
    );
    // A PSBT of an empty transaction.
    assert!(matches!(
        accept(&exported, "cHNidP8BAAoCAAAAAAAAAAAAAA=="),
        Err(PsbtError::LockTime { .. })
    ));
    // Trailing bytes after a PSBT.
    let mut bytes = STANDARD.decode(&signed).unwrap();
    bytes.push(0);
    assert!(matches!(
        accept(&exported, &STANDARD.encode(&bytes)),
        Err(PsbtError::Unreadable(_))
    ));
    // Over the limit, refused before anything is decoded.
    let huge = "0".repeat(MAX_TEXT_LEN + 1);
    assert_eq!(
        accept(&exported, &huge),
        Err(PsbtError::TooLarge {
            len: MAX_TEXT_LEN + 1,
            max: MAX_TEXT_LEN
        })
    );
    // The exported PSBT itself damaged, or not one.
    for bad in ["", "garbage", signed.as_str().get(..40).unwrap_or_default()] {
        assert!(
            matches!(accept(bad, &signed), Err(PsbtError::Exported(_))),
            "{bad}"
        );
    }
    let raw = accept(&exported, &signed).unwrap().hex;
    assert!(matches!(accept(&raw, &signed), Err(PsbtError::Exported(_))));
}

/// The exported PSBT, the signed one's bytes and the txid, made once for the properties.
static FIXTURE: std::sync::LazyLock<(String, Vec<u8>, bitcoin::Txid)> =
    std::sync::LazyLock::new(|| {
        let w = ltc();
        let plan = planned(&w);
        let exported = unsigned(w.watch_only(), &plan).unwrap();
        let signed = signed_psbt(&w, &plan, &exported).serialize();
        (exported, signed, plan.unsigned_transaction().compute_txid())
    });

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn never_panics_on_any_text(text in ".{0,300}", hexish in "[0-9a-f ]{0,400}") {
        let (exported, _, _) = &*FIXTURE;
        let _ = accept(exported, &text);
        let _ = accept(exported, &hexish);
        let _ = accept(&text, exported);
    }

    #[test]
    fn never_panics_on_damaged_psbts(flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4)) {
        let (exported, signed, txid) = &*FIXTURE;
        let mut bytes = signed.clone();
        for (at, byte) in flips {
            let len = bytes.len();
            if let Some(b) = bytes.get_mut(at % len) {
                *b ^= byte | 1;
            }
        }
        // Whatever is changed, nothing but the exported transaction is accepted.
        if let Ok(accepted) = accept(exported, &STANDARD.encode(&bytes)) {
            prop_assert_eq!(accepted.transaction.compute_txid(), *txid);
        }
        let _ = accept(&STANDARD.encode(&bytes), exported);
        let _ = accept(exported, &hex::encode(&bytes));
    }
}
