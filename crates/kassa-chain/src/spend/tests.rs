use bitcoin::hashes::{Hash as _, sha256d};

use super::*;
use crate::hd::Mnemonic;

const ABANDON: &str =
    "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";

fn wallet(coin: Coin, chain: Chain) -> HotWallet {
    HotWallet::from_mnemonic(&Mnemonic::parse(ABANDON).unwrap(), "", coin, chain).unwrap()
}

fn btc() -> HotWallet {
    wallet(Coin::Bitcoin, Chain::Mainnet)
}

fn txid(n: u64) -> Txid {
    Txid::from_raw_hash(sha256d::Hash::hash(&n.to_le_bytes()))
}

fn utxo(n: u64, amount: u64, index: u32) -> Utxo {
    Utxo {
        txid: txid(n),
        vout: (n % 3) as u32,
        amount,
        branch: Branch::Receive,
        index,
        confirmations: 6,
    }
}

/// A P2WPKH address that is not the wallet's (BIP173's example).
const DEST: &str = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4";

fn pay(amount: u64, rate: u64) -> Withdrawal {
    Withdrawal {
        outputs: Outputs::Pay(vec![Payment {
            address: DEST.into(),
            amount,
        }]),
        fee_rate: FeeRate::from_sat_per_vb(rate),
        change_index: 4,
        lock_time: 0,
    }
}

fn policy() -> Policy {
    Policy::default()
}

#[test]
fn signed_sizes_are_the_hand_computed_ones() {
    let w = btc();
    // 1 in / 1 out: 110 vB (weight 437); the fee at 3 sat/vB is 330.
    let utxos = [utxo(1, 100_000, 0)];
    let s = build(&w, &utxos, &pay(100_000 - 330, 3), &policy()).unwrap();
    assert_eq!((s.weight, s.vsize, s.fee), (437, 110, 330));
    assert_eq!(s.transaction.weight().to_wu(), 437);
    assert_eq!(s.transaction.vsize(), 110);
    assert!(s.plan.change().is_none());

    // 2 in / 2 out: 208 vB (weight 832); at 5 sat/vB the fee is 1040.
    let utxos = [utxo(1, 60_000, 0), utxo(2, 50_000, 1)];
    let s = build(&w, &utxos, &pay(80_000, 5), &policy()).unwrap();
    assert_eq!((s.weight, s.vsize, s.fee), (832, 208, 1040));
    let change = s.plan.change().unwrap();
    assert_eq!(change.amount, 110_000 - 80_000 - 1040);
    assert_eq!(change.role, OutputRole::Change(4));
    assert_eq!(change.address, w.address(Branch::Change, 4).unwrap());
    assert_eq!(s.plan.payment(0).unwrap().amount, 80_000);
    assert_eq!(s.plan.inputs().len(), 2);
    // The raw transaction reads back with the same ids.
    let tx: Transaction = deserialize(&hex::decode(&s.hex).unwrap()).unwrap();
    assert_eq!(tx.compute_txid().to_string(), s.txid);
    assert_eq!(tx.compute_wtxid().to_string(), s.wtxid);
    assert_ne!(s.txid, s.wtxid);
    assert_eq!(tx.version, Version::TWO);
    assert!(tx.input.iter().all(|i| i.sequence.0 == RBF_SEQUENCE));
    assert!(tx.is_explicitly_rbf());
}

#[test]
fn fee_is_always_vsize_times_rate() {
    // Many different transactions (so many different signatures): the grinding to 70-byte
    // signatures keeps every one at exactly the planned size.
    let w = wallet(Coin::Litecoin, Chain::Regtest);
    let dest = w.address(Branch::Receive, 99).unwrap();
    let utxos: Vec<Utxo> = (0..3)
        .map(|i| utxo(i, 1_000_000 + i * 333_333, i as u32))
        .collect();
    for k in 0..60u64 {
        let rate = 1 + k % 7;
        let request = Withdrawal {
            outputs: Outputs::Pay(vec![Payment {
                address: dest.clone(),
                amount: 1_500_000 + k * 30_001,
            }]),
            fee_rate: FeeRate::from_sat_per_vb(rate),
            change_index: k as u32,
            lock_time: k as u32,
        };
        let s = build(&w, &utxos, &request, &policy()).unwrap();
        assert_eq!(s.weight, s.plan.weight(), "{k}");
        assert_eq!(s.fee, s.vsize * rate, "{k}");
        let input_total: u64 = s.plan.inputs().iter().map(|u| u.amount).sum();
        let output_total: u64 = s.transaction.output.iter().map(|o| o.value.to_sat()).sum();
        assert_eq!(input_total - output_total, s.fee);
        assert_eq!(s.transaction.lock_time.to_consensus_u32(), k as u32);
    }
}

#[test]
fn selection_cases_through_the_plan() {
    let w = btc();
    let watch = w.watch_only();
    let utxos = [utxo(1, 100_000, 0), utxo(2, 50_000, 1), utxo(3, 30_000, 2)];
    // Exact match: 50 000 pays 49 890 + 110 at 1 sat/vB.
    let p = plan(watch, &utxos, &pay(49_890, 1), &policy()).unwrap();
    assert_eq!(p.inputs().len(), 1);
    assert_eq!(p.inputs()[0].amount, 50_000);
    assert!(p.change().is_none());
    assert_eq!(p.fee(), 110);
    // Change.
    let p = plan(watch, &utxos, &pay(120_000, 2), &policy()).unwrap();
    assert_eq!(p.input_total(), 150_000);
    assert_eq!(p.change().unwrap().amount, 29_584);
    assert_eq!(p.fee(), 416);
    // Dust change folded into the fee: 100 000 − 99 600 − 141 = 259 < 294.
    let p = plan(watch, &[utxos[0].clone()], &pay(99_600, 1), &policy()).unwrap();
    assert!(p.change().is_none());
    assert_eq!(p.fee(), 400);
    assert_eq!(p.outputs().len(), 1);
}

#[test]
fn insufficient_funds_say_how_much_is_missing() {
    let w = btc();
    let mut pending = utxo(9, 70_000, 3);
    pending.confirmations = 0;
    let utxos = [utxo(1, 100_000, 0), utxo(2, 50_000, 1), pending];
    let err = plan(w.watch_only(), &utxos, &pay(200_000, 1), &policy()).unwrap_err();
    assert_eq!(
        err,
        SpendError::InsufficientFunds {
            needed: 200_177,
            available: 150_000,
            missing: 50_177,
            unconfirmed: 70_000,
        }
    );
    assert_eq!(
        err.to_string(),
        "insufficient funds: 50177 missing (needed 200177 including the fee, 150000 spendable; 70000 more awaits confirmation)"
    );
    // With the confirmation requirement lifted, the pending output counts.
    let relaxed = Policy {
        min_confirmations: 0,
        ..policy()
    };
    assert!(plan(w.watch_only(), &utxos, &pay(200_000, 1), &relaxed).is_ok());
}

#[test]
fn sweep_and_fee_from_amount() {
    let w = btc();
    let utxos = [
        utxo(1, 100_000, 0),
        utxo(2, 50_000, 1),
        utxo(3, 30_000, 2),
        // Not worth its input at 2 sat/vB (68 vB × 2 = 136): left alone.
        utxo(4, 130, 3),
    ];
    let sweep = Withdrawal {
        outputs: Outputs::Sweep {
            address: DEST.into(),
        },
        ..pay(0, 2)
    };
    let s = build(&w, &utxos, &sweep, &policy()).unwrap();
    // 3 in / 1 out: 245 vB × 2 = 490.
    assert_eq!((s.plan.inputs().len(), s.vsize, s.fee), (3, 245, 490));
    assert_eq!(s.plan.outputs().len(), 1);
    assert_eq!(s.plan.payment(0).unwrap().amount, 180_000 - 490);

    let fee_from_amount = Withdrawal {
        outputs: Outputs::PayFeeFromAmount(Payment {
            address: DEST.into(),
            amount: 130_000,
        }),
        ..pay(0, 2)
    };
    let s = build(&w, &utxos, &fee_from_amount, &policy()).unwrap();
    // 100 000 + 50 000 with 20 000 change; the recipient pays the 2 in / 2 out fee.
    assert_eq!(s.fee, 416);
    assert_eq!(s.plan.payment(0).unwrap().amount, 130_000 - 416);
    assert_eq!(s.plan.change().unwrap().amount, 20_000);

    // Nothing left for the recipient after the fee.
    let tiny = Withdrawal {
        outputs: Outputs::PayFeeFromAmount(Payment {
            address: DEST.into(),
            amount: 500,
        }),
        ..pay(0, 2)
    };
    assert!(matches!(
        plan(w.watch_only(), &utxos, &tiny, &policy()),
        Err(SpendError::BelowDustAfterFee {
            amount: 218,
            fee: 282,
            dust: 294,
            ..
        })
    ));
    // Nothing to sweep.
    assert!(matches!(
        plan(w.watch_only(), &[], &sweep, &policy()),
        Err(SpendError::InsufficientFunds { available: 0, .. })
    ));
}

#[test]
fn several_payments_and_bip69_order() {
    let w = btc();
    let p2tr = "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0";
    let legacy = "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa";
    let request = Withdrawal {
        outputs: Outputs::Pay(vec![
            Payment {
                address: p2tr.into(),
                amount: 70_000,
            },
            Payment {
                address: legacy.into(),
                amount: 20_000,
            },
            Payment {
                address: DEST.into(),
                amount: 20_000,
            },
        ]),
        ..pay(0, 4)
    };
    let utxos: Vec<Utxo> = (0..6).map(|i| utxo(i, 25_000, i as u32)).collect();
    let s = build(&w, &utxos, &request, &policy()).unwrap();
    let outputs = s.plan.outputs();
    // Sizes: 5 inputs; outputs P2TR 43, P2PKH 34, P2WPKH 31, change 31 bytes.
    let weight = transaction_weight(5, &[34, 25, 22, 22]);
    assert_eq!(s.weight, weight);
    assert_eq!(s.fee, vsize(weight) * 4);
    // Outputs by value, then script: the two 20 000 payments ordered by script bytes
    // (0x00… P2WPKH before 0x76… P2PKH).
    let amounts: Vec<u64> = outputs.iter().map(|o| o.amount).collect();
    let mut sorted = amounts.clone();
    sorted.sort();
    assert_eq!(amounts, sorted);
    let twenty: Vec<OutputRole> = outputs
        .iter()
        .filter(|o| o.amount == 20_000)
        .map(|o| o.role)
        .collect();
    assert_eq!(twenty, [OutputRole::Payment(2), OutputRole::Payment(1)]);
    for (vout, output) in outputs.iter().enumerate() {
        assert_eq!(output.vout as usize, vout);
        assert_eq!(
            s.transaction.output[vout].script_pubkey,
            output.script_pubkey
        );
    }
    // Inputs by displayed txid.
    let ids: Vec<String> = s
        .transaction
        .input
        .iter()
        .map(|i| i.previous_output.txid.to_string())
        .collect();
    let mut sorted_ids = ids.clone();
    sorted_ids.sort();
    assert_eq!(ids, sorted_ids);
}

#[test]
fn selection_is_deterministic() {
    let w = btc();
    let utxos: Vec<Utxo> = (0..12)
        .map(|i| utxo(i, 10_000 + (i % 4) * 7_000, i as u32))
        .collect();
    let first = build(&w, &utxos, &pay(61_000, 3), &policy()).unwrap();
    let mut reversed = utxos.clone();
    reversed.reverse();
    let mut rotated = utxos.clone();
    rotated.rotate_left(5);
    for order in [reversed, rotated] {
        let again = build(&w, &order, &pay(61_000, 3), &policy()).unwrap();
        assert_eq!(again.hex, first.hex);
    }
}

#[test]
fn requests_are_checked() {
    let w = btc();
    let watch = w.watch_only();
    let utxos = [utxo(1, 100_000, 0)];
    let wrong = Withdrawal {
        outputs: Outputs::Pay(vec![Payment {
            address: "ltc1qw508d6qejxtdg4y5r3zarvary0c5xw7kgmn4n9".into(),
            amount: 10_000,
        }]),
        ..pay(0, 1)
    };
    let err = plan(watch, &utxos, &wrong, &policy()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "destination ltc1qw508d6qejxtdg4y5r3zarvary0c5xw7kgmn4n9: this is a Litecoin mainnet address, but this wallet sends on Bitcoin mainnet"
    );
    assert_eq!(
        plan(watch, &utxos, &pay(293, 1), &policy()),
        Err(SpendError::BelowDust {
            address: DEST.into(),
            amount: 293,
            dust: 294
        })
    );
    assert!(plan(watch, &utxos, &pay(294, 1), &policy()).is_ok());
    assert_eq!(
        plan(
            watch,
            &utxos,
            &pay(max_money(Coin::Bitcoin) + 1, 1),
            &policy()
        ),
        Err(SpendError::AmountTooLarge {
            amount: max_money(Coin::Bitcoin) + 1
        })
    );
    let empty = Withdrawal {
        outputs: Outputs::Pay(vec![]),
        ..pay(0, 1)
    };
    assert_eq!(
        plan(watch, &utxos, &empty, &policy()),
        Err(SpendError::NoPayments)
    );
    // Fee rates: raised to the floor, refused above the maximum.
    let floor = Policy {
        min_fee_rate: FeeRate::from_sat_per_vb(5),
        ..policy()
    };
    let p = plan(watch, &utxos, &pay(50_000, 1), &floor).unwrap();
    assert_eq!(p.fee_rate(), FeeRate::from_sat_per_vb(5));
    let mut below_relay = pay(50_000, 0);
    below_relay.fee_rate = FeeRate::from_sat_per_kvb(200);
    let zero_floor = Policy {
        min_fee_rate: FeeRate::from_sat_per_kvb(0),
        ..policy()
    };
    let p = plan(watch, &utxos, &below_relay, &zero_floor).unwrap();
    assert_eq!(p.fee_rate(), FeeRate::MIN_RELAY);
    assert_eq!(
        plan(watch, &utxos, &pay(50_000, 10_001), &policy()),
        Err(SpendError::FeeRateTooHigh {
            rate: FeeRate::from_sat_per_vb(10_001),
            max: FeeRate::from_sat_per_vb(10_000)
        })
    );
    // Fractional rates round the fee up: 141 vB at 1.5 sat/vB = 211.5 → 212.
    let mut fractional = pay(50_000, 0);
    fractional.fee_rate = FeeRate::from_sat_per_kvb(1_500);
    let p = plan(watch, &utxos, &fractional, &policy()).unwrap();
    assert_eq!((p.vsize(), p.fee()), (141, 212));
    // Duplicates, lock times, too many inputs.
    assert!(matches!(
        plan(
            watch,
            &[utxo(1, 100_000, 0), utxo(1, 100_000, 0)],
            &pay(50_000, 1),
            &policy()
        ),
        Err(SpendError::DuplicateOutput { vout: 1, .. })
    ));
    let mut late = pay(50_000, 1);
    late.lock_time = LOCKTIME_THRESHOLD;
    assert_eq!(
        plan(watch, &utxos, &late, &policy()),
        Err(SpendError::LockTime(LOCKTIME_THRESHOLD))
    );
    let many: Vec<Utxo> = (0..10).map(|i| utxo(i, 1_000, 0)).collect();
    let small = Policy {
        max_inputs: 3,
        ..policy()
    };
    assert_eq!(
        plan(watch, &many, &pay(4_500, 1), &small),
        Err(SpendError::TooManyInputs { needed: 5, max: 3 })
    );
    // No more inputs than a standard transaction can hold, whatever the policy says.
    assert_eq!(MAX_STANDARD_INPUTS, 1_472);
    assert!(transaction_weight(MAX_STANDARD_INPUTS as u64, &[34, 22]) <= MAX_STANDARD_TX_WEIGHT);
    let dust_heap: Vec<Utxo> = (0..1_500).map(|i| utxo(i, 1_000, 0)).collect();
    let unlimited = Policy {
        max_inputs: usize::MAX,
        ..policy()
    };
    let sweep = Withdrawal {
        outputs: Outputs::Sweep {
            address: DEST.into(),
        },
        ..pay(0, 1)
    };
    assert_eq!(
        plan(watch, &dust_heap, &sweep, &unlimited),
        Err(SpendError::TooManyInputs {
            needed: 1_500,
            max: 1_472
        })
    );
    let p = plan(watch, &dust_heap[..1_472], &sweep, &unlimited).unwrap();
    assert!(p.weight() <= MAX_STANDARD_TX_WEIGHT);
}

#[test]
fn signing_checks_the_wallet_and_the_signatures() {
    let w = btc();
    let utxos = [utxo(1, 100_000, 0), utxo(2, 50_000, 1)];
    let p = plan(w.watch_only(), &utxos, &pay(120_000, 2), &policy()).unwrap();
    // Another coin or another account.
    let ltc = wallet(Coin::Litecoin, Chain::Mainnet);
    assert_eq!(sign(&ltc, p.clone()), Err(SpendError::WrongWallet));
    let other = HotWallet::from_mnemonic(
        &Mnemonic::generate().unwrap(),
        "",
        Coin::Bitcoin,
        Chain::Mainnet,
    )
    .unwrap();
    assert_eq!(sign(&other, p.clone()), Err(SpendError::WrongWallet));

    // The verifier catches a wrong value, a wrong key and a tampered transaction.
    let s = sign(&w, p).unwrap();
    let prevouts: Vec<([u8; 20], u64)> = s
        .plan
        .inputs()
        .iter()
        .map(|u| {
            (
                w.watch_only().key_hash(u.branch, u.index).unwrap(),
                u.amount,
            )
        })
        .collect();
    sign::verify(&s.transaction, &prevouts).unwrap();
    let mut wrong_value = prevouts.clone();
    wrong_value[0].1 += 1;
    assert!(sign::verify(&s.transaction, &wrong_value).is_err());
    let mut wrong_key = prevouts.clone();
    wrong_key[1].0 = [0; 20];
    assert!(sign::verify(&s.transaction, &wrong_key).is_err());
    let mut tampered = s.transaction.clone();
    tampered.output[0].value = bitcoin::Amount::from_sat(tampered.output[0].value.to_sat() - 1);
    assert!(sign::verify(&tampered, &prevouts).is_err());
    // Change-branch inputs sign with the change keys.
    let change_utxo = Utxo {
        branch: Branch::Change,
        index: 4,
        ..utxo(7, 40_000, 0)
    };
    let s = build(&w, &[change_utxo], &pay(30_000, 1), &policy()).unwrap();
    assert_eq!(s.plan.inputs()[0].branch, Branch::Change);
}

#[test]
fn litecoin_uses_its_own_dust_and_addresses() {
    let w = wallet(Coin::Litecoin, Chain::Regtest);
    let dest = w.address(Branch::Receive, 50).unwrap();
    assert!(dest.starts_with("rltc1q"));
    let utxos = [utxo(1, 1_000_000, 0)];
    let request = |amount| Withdrawal {
        outputs: Outputs::Pay(vec![Payment {
            address: dest.clone(),
            amount,
        }]),
        ..pay(0, 1)
    };
    // Litecoin's dust is ten times Bitcoin's: 2940 for P2WPKH.
    assert!(matches!(
        plan(w.watch_only(), &utxos, &request(2_939), &policy()),
        Err(SpendError::BelowDust { dust: 2_940, .. })
    ));
    // Change of 1 000 000 − 997 000 − 141 = 2 859 < 2 940 goes to the fee.
    let p = plan(w.watch_only(), &utxos, &request(997_000), &policy()).unwrap();
    assert!(p.change().is_none());
    assert_eq!(p.fee(), 3_000);
    // A bech32 address of Bitcoin regtest, or of Litecoin testnet, is refused by name.
    for (address, found) in [
        (
            crate::address::utxo::p2wpkh(Coin::Bitcoin, Chain::Regtest, &[1; 20]),
            "a Bitcoin regtest",
        ),
        (
            crate::address::utxo::p2wpkh(Coin::Litecoin, Chain::Testnet, &[1; 20]),
            "a Litecoin testnet",
        ),
    ] {
        let err = plan(w.watch_only(), &utxos, &request_to(&address), &policy()).unwrap_err();
        assert!(
            matches!(&err, SpendError::Destination { error: DestinationError::WrongNetwork { found: f, expected: "Litecoin regtest" }, .. } if *f == found),
            "{err}"
        );
    }
}

fn request_to(address: &str) -> Withdrawal {
    Withdrawal {
        outputs: Outputs::Pay(vec![Payment {
            address: address.into(),
            amount: 100_000,
        }]),
        ..pay(0, 1)
    }
}
