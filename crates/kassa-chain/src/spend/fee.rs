//! Fee rates, transaction sizes and dust.
//!
//! A [`FeeRate`] is an exact integer in base units per 1000 virtual bytes (sat/kvB, as the nodes'
//! `-minrelaytxfee` and `estimatesmartfee` count). A fee is `ceil(vsize × rate / 1000)`, so at a
//! whole number of sat/vB it is exactly `vsize × sat/vB`.
//!
//! Sizes are computed, not measured: every input Kassa spends is P2WPKH and signed with a
//! signature whose DER encoding is exactly 70 bytes (see `sign`), so the weight of the
//! transaction is known to the unit before it is signed.

use std::fmt;

use crate::address::utxo::Coin;
use crate::rpc::{FeeEstimate, RpcClient, RpcError};

/// A fee rate in base units (satoshi, litoshi) per 1000 virtual bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FeeRate(u64);

impl FeeRate {
    /// The nodes' default minimum relay fee rate (`-minrelaytxfee`), 1 sat/vB, for Bitcoin
    /// Core and Litecoin Core alike. No withdrawal pays less.
    pub const MIN_RELAY: FeeRate = FeeRate(1000);

    /// `sat_per_kvb` base units per 1000 vB.
    pub const fn from_sat_per_kvb(sat_per_kvb: u64) -> FeeRate {
        FeeRate(sat_per_kvb)
    }

    /// `sat_per_vb` base units per vB (saturating at `u64::MAX` per kvB).
    pub const fn from_sat_per_vb(sat_per_vb: u64) -> FeeRate {
        FeeRate(sat_per_vb.saturating_mul(1000))
    }

    /// Base units per 1000 vB.
    pub const fn sat_per_kvb(self) -> u64 {
        self.0
    }

    /// Base units per vB, rounded up.
    pub const fn sat_per_vb_ceil(self) -> u64 {
        self.0.div_ceil(1000)
    }

    /// The fee for `vsize` virtual bytes at this rate, rounded up to a whole base unit.
    pub fn fee(self, vsize: u64) -> u64 {
        let fee = (u128::from(vsize) * u128::from(self.0)).div_ceil(1000);
        u64::try_from(fee).unwrap_or(u64::MAX)
    }
}

impl fmt::Display for FeeRate {
    /// `7 sat/vB`, or `1.5 sat/vB` for a rate that is not a whole number per vB.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (whole, thousandths) = (self.0 / 1000, self.0 % 1000);
        if thousandths == 0 {
            write!(f, "{whole} sat/vB")
        } else {
            let fraction = format!("{thousandths:03}");
            write!(f, "{whole}.{} sat/vB", fraction.trim_end_matches('0'))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Sizes
// ---------------------------------------------------------------------------------------------

/// The length of a Bitcoin "compact size" (varint) encoding of `n`.
pub(crate) const fn compact_size_len(n: u64) -> u64 {
    match n {
        0..=0xfc => 1,
        0xfd..=0xffff => 3,
        0x1_0000..=0xffff_ffff => 5,
        _ => 9,
    }
}

/// The length of a P2WPKH output script: `OP_0 <20 bytes>`.
pub const P2WPKH_SCRIPT_LEN: u64 = 22;

/// Bytes of a signature in a P2WPKH witness: a DER signature of exactly 70 bytes (low R and
/// low S, both 32 bytes long, which signing makes sure of) and the sighash type byte.
pub const WITNESS_SIGNATURE_LEN: u64 = 71;

/// The weight of one P2WPKH input: 41 bytes outside the witness (outpoint 36, empty script 1,
/// sequence 4) at 4 units each, and the witness (item count 1, signature push 1 + 71, key push
/// 1 + 33) at 1 unit each: 164 + 107 = 271 weight units (67.75 vB).
pub const P2WPKH_INPUT_WEIGHT: u64 = 41 * 4 + (1 + 1 + WITNESS_SIGNATURE_LEN + 1 + 33);

/// The weight of an output paying to a script of `script_len` bytes: value 8, length prefix,
/// script; all outside the witness.
pub const fn output_weight(script_len: u64) -> u64 {
    (8 + compact_size_len(script_len) + script_len) * 4
}

/// The weight of a segwit transaction spending `inputs` P2WPKH outputs to outputs whose scripts
/// have the lengths given: version 4, input and output counts, locktime 4 (all at 4 units per
/// byte), the segwit marker and flag (2 units), the inputs and the outputs.
pub fn transaction_weight(inputs: u64, output_script_lens: &[u64]) -> u64 {
    let outputs_weight = output_script_lens
        .iter()
        .map(|&len| output_weight(len))
        .sum::<u64>();
    weight_from_parts(inputs, output_script_lens.len() as u64, outputs_weight)
}

/// [`transaction_weight`] from the number of inputs, the number of outputs and their total
/// weight.
pub(crate) const fn weight_from_parts(inputs: u64, outputs: u64, outputs_weight: u64) -> u64 {
    let fixed = (4 + compact_size_len(inputs) + compact_size_len(outputs) + 4) * 4 + 2;
    fixed + inputs * P2WPKH_INPUT_WEIGHT + outputs_weight
}

/// Virtual size: the weight divided by 4, rounded up (BIP141).
pub const fn vsize(weight: u64) -> u64 {
    weight.div_ceil(4)
}

// ---------------------------------------------------------------------------------------------
// Dust
// ---------------------------------------------------------------------------------------------

/// The rate at which the nodes call an output dust (`-dustrelayfee`): Bitcoin Core's default
/// is 3 sat/vB; Litecoin Core 0.21's is ten times that, 0.0003 LTC/kB = 30 litoshi/vB.
pub const fn dust_relay_fee(coin: Coin) -> FeeRate {
    match coin {
        Coin::Bitcoin => FeeRate(3_000),
        Coin::Litecoin => FeeRate(30_000),
    }
}

/// The smallest value an output paying to `script` may carry and still be relayed, as the
/// nodes' `GetDustThreshold` computes it: the output's own size plus the size of the input that
/// would spend it (67 bytes for a witness program, 148 otherwise), at the coin's dust relay fee.
/// On Bitcoin: P2PKH 546, P2SH 540, P2WPKH 294, P2WSH and P2TR 330; Litecoin's are ten times as
/// much.
pub fn dust_limit(coin: Coin, script: &[u8]) -> u64 {
    let len = script.len() as u64;
    let spend = if is_witness_program(script) {
        32 + 4 + 1 + 107 / 4 + 4
    } else {
        32 + 4 + 1 + 107 + 4
    };
    let size = 8 + compact_size_len(len) + len + spend;
    // GetFee of the dust relay rate rounds down (the nodes' CFeeRate::GetFee before 0.21 did
    // not round up, and for whole sat/vB rates it makes no difference).
    size * dust_relay_fee(coin).sat_per_kvb() / 1000
}

/// Whether `script` is a segwit output: a version opcode (`OP_0`, `OP_1`…`OP_16`) and one push
/// of 2 to 40 bytes.
fn is_witness_program(script: &[u8]) -> bool {
    match script {
        [version, push, program @ ..] => {
            (*version == 0x00 || (0x51..=0x60).contains(version))
                && (2..=40).contains(&program.len())
                && usize::from(*push) == program.len()
        }
        _ => false,
    }
}

/// The most coins that can ever exist, in base units: 21 million BTC, 84 million LTC. No
/// amount above it is a real one.
pub const fn max_money(coin: Coin) -> u64 {
    match coin {
        Coin::Bitcoin => 21_000_000 * 100_000_000,
        Coin::Litecoin => 84_000_000 * 100_000_000,
    }
}

// ---------------------------------------------------------------------------------------------
// Estimates
// ---------------------------------------------------------------------------------------------

/// The fee rate to use, and where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeeRateChoice {
    /// The rate to pay: the node's estimate rounded up to whole sat/vB, or the floor if that is
    /// higher or the node has no estimate.
    pub rate: FeeRate,
    /// The node's estimate as it gave it (per kvB, exact), if it had one.
    pub node_estimate: Option<FeeRate>,
    /// The confirmation target the node's estimate is for (it may answer for another target
    /// than asked when it lacks data).
    pub node_blocks: Option<u32>,
    /// Whether the floor was used (no estimate, or an estimate below it).
    pub from_floor: bool,
    /// Why the node had no estimate ("Insufficient data or no feerate found" on a young or
    /// regtest chain).
    pub node_errors: Vec<String>,
}

/// Picks a fee rate from an `estimatesmartfee` answer: the node's rate (coins per kvB, read
/// exactly into base units per kvB) rounded up to whole base units per vB, but never below
/// `floor` (nor below [`FeeRate::MIN_RELAY`]); the floor alone when the node has no estimate.
pub fn choose_fee_rate(estimate: &FeeEstimate, floor: FeeRate) -> FeeRateChoice {
    let floor = floor.max(FeeRate::MIN_RELAY);
    let node_estimate = estimate
        .feerate
        .map(|rate| FeeRate(u64::try_from(rate.base()).unwrap_or(u64::MAX)));
    let rounded = node_estimate.map(|rate| FeeRate::from_sat_per_vb(rate.sat_per_vb_ceil()));
    let (rate, from_floor) = match rounded {
        Some(rate) if rate >= floor => (rate, false),
        _ => (floor, true),
    };
    FeeRateChoice {
        rate,
        node_estimate,
        node_blocks: node_estimate.map(|_| estimate.blocks),
        from_floor,
        node_errors: estimate.errors.clone(),
    }
}

/// Asks the node for a fee rate to confirm within `conf_target` blocks (`estimatesmartfee`,
/// the node's default mode) and applies [`choose_fee_rate`] with `floor`. A node that cannot be
/// asked is an error, not a reason to guess: it could not take the withdrawal either.
pub async fn estimate_fee_rate(
    rpc: &RpcClient,
    conf_target: u16,
    floor: FeeRate,
) -> Result<FeeRateChoice, RpcError> {
    let estimate = rpc.estimate_smart_fee(conf_target, None).await?;
    Ok(choose_fee_rate(&estimate, floor))
}

#[cfg(test)]
mod tests {
    use bitcoin::ScriptBuf;
    use bitcoin::hashes::Hash as _;
    use kassa_core::money::Amount;

    use super::*;

    #[test]
    fn fee_rates_are_exact_integers() {
        let rate = FeeRate::from_sat_per_vb(7);
        assert_eq!(rate.sat_per_kvb(), 7000);
        assert_eq!(rate.fee(110), 770);
        assert_eq!(rate.to_string(), "7 sat/vB");
        let fractional = FeeRate::from_sat_per_kvb(1_500);
        assert_eq!(fractional.to_string(), "1.5 sat/vB");
        assert_eq!(FeeRate::from_sat_per_kvb(1_234).to_string(), "1.234 sat/vB");
        assert_eq!(FeeRate::from_sat_per_kvb(50).to_string(), "0.05 sat/vB");
        // 141 vB at 1.5 sat/vB is 211.5: rounded up.
        assert_eq!(fractional.fee(141), 212);
        assert_eq!(fractional.sat_per_vb_ceil(), 2);
        assert_eq!(FeeRate::from_sat_per_vb(u64::MAX).sat_per_kvb(), u64::MAX);
    }

    /// Hand-computed sizes of P2WPKH transactions.
    #[test]
    fn p2wpkh_sizes_by_hand() {
        // One input, one P2WPKH output:
        //   outside the witness: version 4 + input count 1 + input 41 + output count 1
        //     + output (8 + 1 + 22 = 31) + locktime 4 = 82 bytes → 328 WU;
        //   witness: marker and flag 2 + (items 1 + 1 + 71 + 1 + 33 = 107) = 109 WU;
        //   weight 437, vsize ceil(109.25) = 110.
        let one_one = transaction_weight(1, &[P2WPKH_SCRIPT_LEN]);
        assert_eq!(one_one, 437);
        assert_eq!(vsize(one_one), 110);
        // Two inputs, two P2WPKH outputs:
        //   4 + 1 + 2 × 41 + 1 + 2 × 31 + 4 = 154 bytes → 616 WU; witness 2 + 2 × 107 = 216;
        //   weight 832, vsize 208.
        let two_two = transaction_weight(2, &[P2WPKH_SCRIPT_LEN, P2WPKH_SCRIPT_LEN]);
        assert_eq!(two_two, 832);
        assert_eq!(vsize(two_two), 208);
        // One input, a P2WPKH payment and P2WPKH change: 113 bytes + 109 WU = 561 → 141 vB.
        assert_eq!(
            vsize(transaction_weight(
                1,
                &[P2WPKH_SCRIPT_LEN, P2WPKH_SCRIPT_LEN]
            )),
            141
        );
        // Other output scripts: P2PKH 25 bytes (34-byte output), P2TR 34 (43-byte output).
        assert_eq!(output_weight(25), 34 * 4);
        assert_eq!(output_weight(34), 43 * 4);
        // 253 inputs need a 3-byte count.
        assert_eq!(
            transaction_weight(253, &[22]) - transaction_weight(252, &[22]),
            P2WPKH_INPUT_WEIGHT + 2 * 4
        );
        assert_eq!(
            FeeRate::from_sat_per_vb(3).fee(vsize(one_one)),
            330,
            "fee = vsize × rate"
        );
    }

    #[test]
    fn dust_limits_match_the_nodes() {
        let hash20 = [0x11; 20];
        let hash32 = [0x22; 32];
        let p2pkh = ScriptBuf::new_p2pkh(&bitcoin::PubkeyHash::from_byte_array(hash20));
        let p2sh = ScriptBuf::new_p2sh(&bitcoin::ScriptHash::from_byte_array(hash20));
        let p2wpkh = ScriptBuf::new_p2wpkh(&bitcoin::WPubkeyHash::from_byte_array(hash20));
        let p2wsh = ScriptBuf::new_p2wsh(&bitcoin::WScriptHash::from_byte_array(hash32));
        let mut p2tr = vec![0x51, 0x20];
        p2tr.extend_from_slice(&hash32);
        let p2tr = ScriptBuf::from_bytes(p2tr);
        let cases = [
            (&p2pkh, 546),
            (&p2sh, 540),
            (&p2wpkh, 294),
            (&p2wsh, 330),
            (&p2tr, 330),
        ];
        for (script, btc) in cases {
            assert_eq!(
                dust_limit(Coin::Bitcoin, script.as_bytes()),
                btc,
                "{script}"
            );
            // The `bitcoin` crate's own computation at Bitcoin Core's default.
            assert_eq!(script.minimal_non_dust().to_sat(), btc, "{script}");
            assert_eq!(
                dust_limit(Coin::Litecoin, script.as_bytes()),
                btc * 10,
                "{script}"
            );
        }
        // The catalogue's smallest payments (deposit addresses are P2WPKH) are these limits.
        use kassa_core::currency::{BTC_NET, LTC_NET};
        assert_eq!(dust_limit(Coin::Bitcoin, p2wpkh.as_bytes()), BTC_NET.dust);
        assert_eq!(dust_limit(Coin::Litecoin, p2wpkh.as_bytes()), LTC_NET.dust);
        assert!(!is_witness_program(&[0x00, 0x01, 0xff]));
        assert!(!is_witness_program(&[0x61, 0x02, 1, 2]));
        assert!(is_witness_program(&[0x60, 0x02, 1, 2]));
    }

    #[test]
    fn estimates_round_up_and_fall_back_to_the_floor() {
        let floor = FeeRate::from_sat_per_vb(2);
        // 0.00012345 coins/kvB = 12345 sat/kvB = 12.345 sat/vB → 13 sat/vB.
        let estimate = FeeEstimate {
            feerate: Some(Amount::from_base(12_345)),
            errors: vec![],
            blocks: 2,
        };
        let choice = choose_fee_rate(&estimate, floor);
        assert_eq!(choice.rate, FeeRate::from_sat_per_vb(13));
        assert_eq!(
            choice.node_estimate,
            Some(FeeRate::from_sat_per_kvb(12_345))
        );
        assert_eq!(choice.node_blocks, Some(2));
        assert!(!choice.from_floor);
        // Exactly whole: no rounding.
        let whole = FeeEstimate {
            feerate: Some(Amount::from_base(5_000)),
            errors: vec![],
            blocks: 6,
        };
        assert_eq!(
            choose_fee_rate(&whole, floor).rate,
            FeeRate::from_sat_per_vb(5)
        );
        // Below the floor.
        let low = FeeEstimate {
            feerate: Some(Amount::from_base(900)),
            errors: vec![],
            blocks: 2,
        };
        let choice = choose_fee_rate(&low, floor);
        assert_eq!((choice.rate, choice.from_floor), (floor, true));
        // No estimate (regtest).
        let none = FeeEstimate {
            feerate: None,
            errors: vec!["Insufficient data or no feerate found".into()],
            blocks: 0,
        };
        let choice = choose_fee_rate(&none, floor);
        assert_eq!(choice.rate, floor);
        assert!(choice.from_floor);
        assert_eq!(choice.node_estimate, None);
        assert_eq!(choice.node_errors.len(), 1);
        // A floor below the minimum relay rate is raised to it.
        assert_eq!(
            choose_fee_rate(&none, FeeRate::from_sat_per_kvb(10)).rate,
            FeeRate::MIN_RELAY
        );
    }
}
