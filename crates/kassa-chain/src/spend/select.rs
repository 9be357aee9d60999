//! Coin selection over values alone: which of the candidate outputs to spend, whether there
//! is change, and the fee.
//!
//! The candidates come sorted (largest value first, ties by outpoint) and already filtered to
//! outputs worth spending (each is worth more than the fee its input adds). Every input is
//! P2WPKH, so the fee depends only on how many inputs there are, not on which.
//!
//! For a payment with the fee on top:
//!
//! 1. **Branch and bound** looks for a set of inputs that pays the amount and the fee of a
//!    transaction without change, leaving an excess small enough to give to the fee: at most what
//!    a change output would cost to create and later spend at this rate, or, if more, what the
//!    dust rule below would give up anyway. Of those found it keeps the one with the least
//!    excess (then the fewest inputs). The search is a depth-first walk, largest first, that
//!    skips branches which cannot reach the target and stops after [`BNB_TRIES`] steps, so its
//!    answer depends on the candidates only.
//! 2. Otherwise **largest first**: inputs are added, largest first, until they pay the amount,
//!    the fee with a change output, and a change of at least the dust limit; or until they pay
//!    the amount and the fee without change, the excess (less than a change output plus dust)
//!    then going to the fee.

use super::fee::{
    FeeRate, P2WPKH_INPUT_WEIGHT, P2WPKH_SCRIPT_LEN, output_weight, vsize, weight_from_parts,
};

/// How many steps branch and bound may take before it gives up.
pub const BNB_TRIES: usize = 100_000;

/// The shape of the transaction being built, apart from its inputs.
#[derive(Clone, Debug)]
pub(crate) struct Shape {
    pub rate: FeeRate,
    /// The script lengths of the outputs that are not change.
    pub payment_script_lens: Vec<u64>,
    /// The smallest change worth an output (below it, change goes to the fee).
    pub change_dust: u64,
    pub max_inputs: usize,
}

impl Shape {
    pub fn weight(&self, inputs: usize, change: bool) -> u64 {
        let payments = self.payment_script_lens.len() as u64;
        let payments_weight: u64 = self
            .payment_script_lens
            .iter()
            .map(|&len| output_weight(len))
            .sum();
        let (outputs, outputs_weight) = if change {
            (
                payments + 1,
                payments_weight + output_weight(P2WPKH_SCRIPT_LEN),
            )
        } else {
            (payments, payments_weight)
        };
        weight_from_parts(inputs as u64, outputs, outputs_weight)
    }

    pub fn fee(&self, inputs: usize, change: bool) -> u64 {
        self.rate.fee(vsize(self.weight(inputs, change)))
    }

    /// Whether an output of `value` is worth spending: more than its input's share of the fee.
    pub fn economic(&self, value: u64) -> bool {
        u128::from(value) * 4000
            > u128::from(P2WPKH_INPUT_WEIGHT) * u128::from(self.rate.sat_per_kvb())
    }

    /// The most a changeless transaction with `inputs` inputs may overpay: the cost of a change
    /// output now and of spending it later, or what dust change would give up, whichever is more.
    fn changeless_window(&self, inputs: usize) -> u64 {
        let cost_of_change = self
            .rate
            .fee(vsize(output_weight(P2WPKH_SCRIPT_LEN)) + vsize(P2WPKH_INPUT_WEIGHT));
        let dust_folded = (self.fee(inputs, true) - self.fee(inputs, false)) + self.change_dust;
        cost_of_change.max(dust_folded.saturating_sub(1))
    }
}

/// The inputs chosen (positions in the candidate list), the change and the fee.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Selection {
    pub inputs: Vec<usize>,
    pub change: Option<u64>,
    pub fee: u64,
}

/// Why no selection was possible.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shortfall {
    /// All candidates together (spent without change) are `missing` short of `needed`.
    Insufficient { needed: u64, available: u64 },
    /// Enough value, but only with `needed` inputs, more than allowed.
    TooManyInputs { needed: usize },
}

/// Sum of `values`, saturating (candidate values are at most the coin's supply each).
fn total(values: &[u64]) -> u64 {
    values.iter().fold(0u64, |a, &v| a.saturating_add(v))
}

/// Selects inputs paying `amount` to the payment outputs with the fee on top.
pub(crate) fn pay(values: &[u64], amount: u64, shape: &Shape) -> Result<Selection, Shortfall> {
    if let Some(inputs) = branch_and_bound(values, amount, shape) {
        let sum = total(&inputs.iter().map(|&i| values[i]).collect::<Vec<_>>());
        return Ok(Selection {
            fee: sum - amount,
            inputs,
            change: None,
        });
    }
    largest_first(values, amount, shape)
}

fn largest_first(values: &[u64], amount: u64, shape: &Shape) -> Result<Selection, Shortfall> {
    let mut sum = 0u64;
    for (k, &value) in values.iter().enumerate() {
        let n = k + 1;
        sum = sum.saturating_add(value);
        let with_change = amount.saturating_add(shape.fee(n, true));
        if let Some(change) = sum.checked_sub(with_change)
            && change >= shape.change_dust
        {
            return within_limit(n, shape, || Selection {
                inputs: (0..n).collect(),
                change: Some(change),
                fee: shape.fee(n, true),
            });
        }
        if sum >= amount.saturating_add(shape.fee(n, false)) {
            return within_limit(n, shape, || Selection {
                inputs: (0..n).collect(),
                change: None,
                fee: sum - amount,
            });
        }
    }
    Err(Shortfall::Insufficient {
        needed: amount.saturating_add(shape.fee(values.len(), false)),
        available: total(values),
    })
}

fn within_limit(
    n: usize,
    shape: &Shape,
    selection: impl FnOnce() -> Selection,
) -> Result<Selection, Shortfall> {
    if n > shape.max_inputs {
        Err(Shortfall::TooManyInputs { needed: n })
    } else {
        Ok(selection())
    }
}

/// Selects inputs for one payment of `amount` from which the fee is deducted: the recipient
/// gets `amount − fee`, the inputs need only cover `amount`. Largest first; change below the
/// dust limit goes to the fee.
pub(crate) fn pay_fee_from_amount(
    values: &[u64],
    amount: u64,
    shape: &Shape,
) -> Result<Selection, Shortfall> {
    let mut sum = 0u64;
    for (k, &value) in values.iter().enumerate() {
        let n = k + 1;
        sum = sum.saturating_add(value);
        if let Some(change) = sum.checked_sub(amount) {
            return within_limit(n, shape, || {
                if change >= shape.change_dust {
                    Selection {
                        inputs: (0..n).collect(),
                        change: Some(change),
                        fee: shape.fee(n, true),
                    }
                } else {
                    Selection {
                        inputs: (0..n).collect(),
                        change: None,
                        fee: shape.fee(n, false) + change,
                    }
                }
            });
        }
    }
    Err(Shortfall::Insufficient {
        needed: amount,
        available: total(values),
    })
}

/// Spends every candidate to the payment output, the fee deducted from it.
pub(crate) fn sweep(values: &[u64], shape: &Shape) -> Result<Selection, Shortfall> {
    let n = values.len();
    if n == 0 {
        return Err(Shortfall::Insufficient {
            needed: shape.fee(1, false),
            available: 0,
        });
    }
    within_limit(n, shape, || Selection {
        inputs: (0..n).collect(),
        change: None,
        fee: shape.fee(n, false),
    })
}

/// Branch and bound for a changeless selection (see the module docs). Works in units of
/// 1/4000 base unit so that per-input fees are exact integers: an input's effective value is
/// `value × 4000 − 271 × rate` (rate per kvB), and a selection of `n` inputs must reach at
/// least `amount × 4000 + fixed weight × rate`. Exact fees (with vsize and fee rounding) are
/// checked at every node; the scaled sums only prune.
fn branch_and_bound(values: &[u64], amount: u64, shape: &Shape) -> Option<Vec<usize>> {
    let kvb = i128::from(shape.rate.sat_per_kvb());
    let input_cost = i128::from(P2WPKH_INPUT_WEIGHT) * kvb;
    let effective: Vec<i128> = values
        .iter()
        .map(|&v| i128::from(v) * 4000 - input_cost)
        .collect();
    // suffix[i]: the effective value of candidates i.. together.
    let mut suffix = vec![0i128; values.len() + 1];
    for i in (0..values.len()).rev() {
        suffix[i] = suffix[i + 1] + effective[i].max(0);
    }
    let target = i128::from(amount) * 4000 + i128::from(shape.weight(0, false)) * kvb;

    let mut best: Option<(u64, Vec<usize>)> = None;
    let mut stack: Vec<usize> = Vec::new();
    let (mut sum, mut sum_effective) = (0u64, 0i128);
    let mut next = 0usize;
    for _ in 0..BNB_TRIES {
        let mut backtrack = false;
        if !stack.is_empty() {
            let n = stack.len();
            let need = amount.saturating_add(shape.fee(n, false));
            if sum >= need {
                let excess = sum - need;
                let better = match &best {
                    None => true,
                    Some((best_excess, inputs)) => (excess, n) < (*best_excess, inputs.len()),
                };
                if excess <= shape.changeless_window(n) && better {
                    best = Some((excess, stack.clone()));
                    if excess == 0 {
                        break;
                    }
                }
                // More inputs would only add to the excess.
                backtrack = true;
            }
        }
        if !backtrack
            && (next >= values.len()
                || stack.len() >= shape.max_inputs
                || sum_effective + suffix[next] < target)
        {
            backtrack = true;
        }
        if backtrack {
            let Some(last) = stack.pop() else {
                break;
            };
            sum -= values[last];
            sum_effective -= effective[last];
            // Explore the branch without `last`; candidates of the same value would only
            // repeat what including `last` already tried.
            next = last + 1;
            while next < values.len() && values[next] == values[last] {
                next += 1;
            }
            continue;
        }
        stack.push(next);
        sum = sum.saturating_add(values[next]);
        sum_effective += effective[next];
        next += 1;
    }
    best.map(|(_, inputs)| inputs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(rate: u64) -> Shape {
        Shape {
            rate: FeeRate::from_sat_per_vb(rate),
            payment_script_lens: vec![P2WPKH_SCRIPT_LEN],
            change_dust: 294,
            max_inputs: 100,
        }
    }

    #[test]
    fn fees_by_input_count() {
        let s = shape(1);
        // 1 in / 1 out 110 vB, 1 in / 2 out 141 vB, 2 in / 1 out 177 vB, 2 in / 2 out 208 vB.
        assert_eq!(s.fee(1, false), 110);
        assert_eq!(s.fee(1, true), 141);
        assert_eq!(s.fee(2, false), 177);
        assert_eq!(s.fee(2, true), 208);
        // Change costs 31 vB now and 68 vB to spend later: 99; dust change (below 294) plus its
        // 31 vB output would give up to 324 anyway.
        assert_eq!(s.changeless_window(1), 324);
        assert_eq!(shape(10).changeless_window(1), 990);
        assert!(s.economic(69) && !s.economic(67));
    }

    #[test]
    fn exact_match_avoids_change() {
        let s = shape(1);
        // 50 000 alone pays 49 890 and its 110 fee exactly; largest first would take 100 000.
        let values = [100_000, 50_000, 30_000];
        let got = pay(&values, 49_890, &s).unwrap();
        assert_eq!(
            got,
            Selection {
                inputs: vec![1],
                change: None,
                fee: 110
            }
        );
        // A pair: 50 000 + 30 000 = 80 000 pays 79 823 + 177.
        let got = pay(&values, 79_823, &s).unwrap();
        assert_eq!((got.inputs, got.change, got.fee), (vec![1, 2], None, 177));
        // Slightly less: the excess (within the window) goes to the fee.
        let got = pay(&values, 79_800, &s).unwrap();
        assert_eq!((got.inputs, got.change, got.fee), (vec![1, 2], None, 200));
    }

    #[test]
    fn change_when_no_match() {
        let s = shape(2);
        let values = [100_000, 50_000, 30_000];
        let got = pay(&values, 120_000, &s).unwrap();
        // 2 in / 2 out = 208 vB × 2 = 416; change 150 000 − 120 000 − 416.
        assert_eq!(
            got,
            Selection {
                inputs: vec![0, 1],
                change: Some(29_584),
                fee: 416
            }
        );
    }

    #[test]
    fn dust_change_is_folded_into_the_fee() {
        // Window 324 at 1 sat/vB: 100 000 − 99 500 − 110 = 390 is outside it, so change:
        // 100 000 − 99 500 − 141 = 359 ≥ 294.
        let s = shape(1);
        let got = pay(&[100_000], 99_500, &s).unwrap();
        assert_eq!((got.change, got.fee), (Some(359), 141));
        // 100 000 − 99 600 − 141 = 259 < 294: no change; the fee is everything left, 400.
        let got = pay(&[100_000], 99_600, &s).unwrap();
        assert_eq!((got.change, got.fee), (None, 400));
        // The same when the only way is largest first (no branch and bound within its tries):
        // with a dust limit so high that a change output is never worth it.
        let high_dust = Shape {
            change_dust: 10_000,
            ..shape(1)
        };
        let got = largest_first(&[100_000], 95_000, &high_dust).unwrap();
        assert_eq!((got.change, got.fee), (None, 5_000));
    }

    #[test]
    fn insufficient_funds_say_how_much_is_missing() {
        let s = shape(1);
        // All of it without change: 150 000 against 200 000 + 177.
        assert_eq!(
            pay(&[100_000, 50_000], 200_000, &s),
            Err(Shortfall::Insufficient {
                needed: 200_177,
                available: 150_000
            })
        );
        assert_eq!(
            pay(&[], 1_000, &s),
            Err(Shortfall::Insufficient {
                needed: 1_000 + s.fee(0, false),
                available: 0
            })
        );
        // Just enough for the amount but not the fee.
        assert_eq!(
            pay(&[100_000], 100_000, &s),
            Err(Shortfall::Insufficient {
                needed: 100_110,
                available: 100_000
            })
        );
    }

    #[test]
    fn too_many_inputs() {
        let s = Shape {
            max_inputs: 3,
            ..shape(1)
        };
        let values = [1_000; 10];
        assert_eq!(
            pay(&values, 4_500, &s),
            Err(Shortfall::TooManyInputs { needed: 5 })
        );
        assert_eq!(
            sweep(&values, &s),
            Err(Shortfall::TooManyInputs { needed: 10 })
        );
        assert!(pay(&values, 2_000, &s).is_ok());
    }

    #[test]
    fn sweeps_and_fee_from_amount() {
        let s = shape(2);
        // 3 in / 1 out: 4 + 1 + 123 + 1 + 31 + 4 = 164 bytes → 656 + 2 + 321 = 979 WU → 245 vB.
        let got = sweep(&[100_000, 50_000, 30_000], &s).unwrap();
        assert_eq!((got.inputs.len(), got.change, got.fee), (3, None, 490));
        // Fee from amount: 100 000 from a single 100 000 output, no change.
        let got = pay_fee_from_amount(&[100_000, 60_000], 100_000, &s).unwrap();
        assert_eq!((got.inputs, got.change, got.fee), (vec![0], None, 220));
        // With change: 130 000 from both, 30 000 back.
        let got = pay_fee_from_amount(&[100_000, 60_000], 130_000, &s).unwrap();
        assert_eq!(
            (got.inputs, got.change, got.fee),
            (vec![0, 1], Some(30_000), 416)
        );
        // Change below dust goes to the fee.
        let got = pay_fee_from_amount(&[100_000, 60_000], 159_800, &s).unwrap();
        assert_eq!((got.change, got.fee), (None, 354 + 200));
        assert_eq!(
            pay_fee_from_amount(&[100_000, 60_000], 160_001, &s),
            Err(Shortfall::Insufficient {
                needed: 160_001,
                available: 160_000
            })
        );
    }

    #[test]
    fn branch_and_bound_finds_combinations_and_stays_bounded() {
        let s = shape(1);
        // 13 + 11 + 7 (in thousands) pays 31 000 less the fee of three inputs without change
        // exactly; 20 + 11 comes within the window but overpays by 68, and largest first would
        // take 20 + 13 and make change.
        let values = [20_000, 13_000, 11_000, 7_000, 5_000];
        let amount = 31_000 - s.fee(3, false);
        let got = pay(&values, amount, &s).unwrap();
        assert_eq!((got.inputs, got.change), (vec![1, 2, 3], None));
        // Many equal values: the duplicate skip keeps this quick, and the answer is the fewest
        // inputs that pay it.
        let many = vec![10_000u64; 2_000];
        let amount = 5 * 10_000 - s.fee(5, false);
        let got = pay(&many, amount, &s).unwrap();
        assert_eq!(got.inputs, vec![0, 1, 2, 3, 4]);
        assert_eq!(got.change, None);
        // Unreachable targets end within the step limit and fall back to largest first.
        let spread: Vec<u64> = (0..200u64).map(|i| 1_000_003 + i * 7_919).rev().collect();
        let got = pay(&spread, 1_500_000, &s).unwrap();
        assert!(got.change.is_some() || got.fee <= s.fee(got.inputs.len(), false) + 324);
    }
}
