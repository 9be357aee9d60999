use proptest::prelude::*;

use rust_decimal::Decimal;

use super::*;

fn dec(s: &str) -> Decimal {
    crate::money::parse_decimal(s).unwrap()
}

fn usd(s: &str) -> Priced {
    Priced::Fiat {
        amount: dec(s),
        usd: Decimal::ONE,
    }
}

fn input(service_side: Side, transfer_side: Side) -> QuoteInput {
    QuoteInput {
        price: usd("100"),
        crypto_usd: dec("1"),
        decimals: 6,
        service_percent: dec("1.9"),
        transfer_fee_usd: dec("1.4"),
        service_side,
        transfer_side,
        tolerance: Tolerance::None,
        minimum: Some(Amount::from_base(1)),
    }
}

#[test]
fn quotes_like_the_reference_example() {
    // 100 USD in USDT_TRC20: service fee 1.9, transfer fee 1.4 (the contract's example).
    let q = Quote::compute(&input(Side::Merchant, Side::Merchant)).unwrap();
    assert_eq!(q.price, Amount::from_base(100_000_000));
    assert_eq!(q.service_fee, Amount::from_base(1_900_000));
    assert_eq!(q.transfer_fee, Amount::from_base(1_400_000));
    assert_eq!(q.due, q.price, "the merchant carries both fees");
    let s = q.settle(q.due);
    assert_eq!(s.credit, Amount::from_base(96_700_000));
    // The payer carries both: due grows, the merchant gets the full price.
    let q = Quote::compute(&input(Side::Client, Side::Client)).unwrap();
    assert_eq!(q.due, Amount::from_base(103_300_000));
    assert_eq!(q.settle(q.due).credit, q.price);
    // Mixed.
    let q = Quote::compute(&input(Side::Client, Side::Merchant)).unwrap();
    assert_eq!(q.due, Amount::from_base(101_900_000));
    assert_eq!(q.settle(q.due).credit, Amount::from_base(98_600_000));
}

#[test]
fn conversion_rounds_what_is_owed_up() {
    let mut i = input(Side::Merchant, Side::Merchant);
    i.price = usd("100");
    i.crypto_usd = dec("97000.12");
    i.decimals = 8;
    i.transfer_fee_usd = Decimal::ZERO;
    let q = Quote::compute(&i).unwrap();
    // 100 / 97000.12 = 0.001030926561... BTC → 103093 satoshi (rounded up).
    assert_eq!(q.price, Amount::from_base(103_093));
    assert_eq!(q.transfer_fee, Amount::ZERO);
    i.crypto_usd = Decimal::ZERO;
    assert_eq!(Quote::compute(&i), Err(QuoteError::BadRate));
    i.crypto_usd = dec("1");
    i.service_percent = dec("101");
    assert_eq!(Quote::compute(&i), Err(QuoteError::BadPercent));
}

const T0: Timestamp = Timestamp::EPOCH;

fn terms(q: Quote) -> Terms {
    Terms {
        quote: Some(q),
        expires_at: Timestamp::from_micros(1_000_000),
        canceled_at: None,
        accepted: false,
    }
}

fn pay(base: u128, standing: Standing) -> Payment {
    Payment {
        amount: Amount::from_base(base),
        standing,
        seen_at: T0,
    }
}

#[test]
fn a_payment_that_leaves_the_chain_is_taken_back_and_returns_as_one() {
    let q = Quote::compute(&input(Side::Merchant, Side::Merchant)).unwrap();
    let t = terms(q);
    let half = q.due.base() / 2;
    let rest = q.due.base() - half;
    let paid = InvoiceState::evaluate(
        &t,
        &[pay(half, Standing::Counted), pay(rest, Standing::Counted)],
        T0,
    );
    assert_eq!(
        (paid.status, paid.confirmed),
        (Status::Paid, Some(Confirmation::Payment))
    );
    // The second payment's block leaves the chain and it waits in the mempool: partial again,
    // processing, nothing settled.
    let back = InvoiceState::evaluate(
        &t,
        &[pay(half, Standing::Counted), pay(rest, Standing::Pending)],
        T0,
    );
    assert_eq!((back.status, back.confirmed), (Status::Partial, None));
    assert_eq!(back.processing, Amount::from_base(rest));
    let c = paid.change_to(&back);
    assert!(c.unconfirmed_now && !c.confirmed_now);
    assert_eq!(c.settled_before, q.settle(q.due));
    assert_eq!(c.settled_after, Settlement::default());
    // Mined again: the same state as if it had never left.
    let again = InvoiceState::evaluate(
        &t,
        &[pay(half, Standing::Counted), pay(rest, Standing::Counted)],
        T0,
    );
    assert_eq!(again, paid);
    // Both gone after expiry: cancelled.
    let gone = InvoiceState::evaluate(
        &t,
        &[pay(half, Standing::Gone), pay(rest, Standing::Gone)],
        Timestamp::from_micros(2_000_000),
    );
    assert_eq!(
        (gone.status, gone.received, gone.paid_late),
        (Status::Canceled, Amount::ZERO, false)
    );
}

#[test]
fn tolerance_confirms_small_shortfalls() {
    let mut i = input(Side::Merchant, Side::Merchant);
    i.tolerance = Tolerance::Usd(dec("0.5"));
    let q = Quote::compute(&i).unwrap();
    assert_eq!(q.tolerance, Amount::from_base(500_000));
    let s = InvoiceState::evaluate(&terms(q), &[pay(99_600_000, Standing::Counted)], T0);
    assert_eq!(
        (s.status, s.confirmed),
        (Status::Paid, Some(Confirmation::Tolerance))
    );
    // Percent tolerance: 1 % of 100 USD.
    i.tolerance = Tolerance::Percent(dec("1"));
    let q = Quote::compute(&i).unwrap();
    let s = InvoiceState::evaluate(&terms(q), &[pay(98_999_999, Standing::Counted)], T0);
    assert_eq!(s.status, Status::Partial, "just over 1 % short");
    let s = InvoiceState::evaluate(
        &terms(q),
        &[
            pay(98_999_999, Standing::Counted),
            pay(2, Standing::Counted),
        ],
        T0,
    );
    assert_eq!(
        (s.status, s.confirmed),
        (Status::Paid, Some(Confirmation::Tolerance))
    );
}

#[test]
fn partial_top_up_expiry_and_late_payments() {
    let q = Quote::compute(&input(Side::Merchant, Side::Merchant)).unwrap();
    let t = terms(q);
    let expiry = t.expires_at;
    let seen = InvoiceState::evaluate(&t, &[pay(60_000_000, Standing::Pending)], T0);
    assert_eq!(
        (seen.status, seen.processing),
        (Status::Created, Amount::from_base(60_000_000)),
        "seen is processing, still created"
    );
    // In flight at expiry: waited for.
    assert_eq!(
        InvoiceState::evaluate(&t, &[pay(60_000_000, Standing::Pending)], expiry).status,
        Status::Created
    );
    // Nothing at expiry: cancelled.
    assert_eq!(
        InvoiceState::evaluate(&t, &[], expiry).status,
        Status::Canceled
    );
    let partial = InvoiceState::evaluate(&t, &[pay(60_000_000, Standing::Counted)], expiry);
    assert_eq!(
        partial.status,
        Status::Partial,
        "a partial invoice is not cancelled at expiry"
    );
    assert_eq!(partial.to_surcharge(), Amount::from_base(40_000_000));
    let late = Payment {
        seen_at: expiry,
        ..pay(50_000_000, Standing::Counted)
    };
    let s = InvoiceState::evaluate(&t, &[pay(60_000_000, Standing::Counted), late], expiry);
    assert_eq!((s.status, s.paid_late), (Status::Overpaid, true));
    assert_eq!(s.settled().total(), Amount::from_base(110_000_000));
    // A late payment not (yet) counted does not flag the invoice.
    let s = InvoiceState::evaluate(
        &t,
        &[
            pay(60_000_000, Standing::Counted),
            Payment {
                standing: Standing::Pending,
                ..late
            },
        ],
        expiry,
    );
    assert!(!s.paid_late);
}

#[test]
fn cancellation_and_the_merchants_acceptance() {
    let q = Quote::compute(&input(Side::Merchant, Side::Merchant)).unwrap();
    let mut t = terms(q);
    let fresh = InvoiceState::evaluate(&t, &[], T0);
    assert_eq!(fresh.check_cancel(), Ok(()));
    t.canceled_at = Some(Timestamp::from_micros(10));
    let canceled = InvoiceState::evaluate(&t, &[], T0);
    assert_eq!(canceled.status, Status::Canceled);
    assert_eq!(
        canceled.check_cancel(),
        Err(InvalidTransition::NotCancellable)
    );
    // Paid after cancellation: counted, late.
    let late = Payment {
        seen_at: Timestamp::from_micros(20),
        ..pay(q.due.base(), Standing::Counted)
    };
    let s = InvoiceState::evaluate(&t, &[late], T0);
    assert_eq!((s.status, s.paid_late), (Status::Paid, true));
    // Reversed: cancelled again.
    let s = InvoiceState::evaluate(
        &t,
        &[Payment {
            standing: Standing::Gone,
            ..late
        }],
        T0,
    );
    assert_eq!(s.status, Status::Canceled);

    let mut t = terms(q);
    let partial = InvoiceState::evaluate(&t, &[pay(50_000_000, Standing::Counted)], T0);
    assert_eq!(
        partial.check_cancel(),
        Err(InvalidTransition::NotCancellable)
    );
    assert_eq!(partial.check_accept(), Ok(()));
    t.accepted = true;
    let accepted = InvoiceState::evaluate(&t, &[pay(50_000_000, Standing::Counted)], T0);
    assert_eq!(
        (accepted.status, accepted.confirmed),
        (Status::Paid, Some(Confirmation::Merchant))
    );
    assert!(partial.change_to(&accepted).confirmed_now);
    assert_eq!(accepted.settled().total(), Amount::from_base(50_000_000));
    assert_eq!(accepted.check_accept(), Err(InvalidTransition::NotPartial));
    // The acceptance stands for what remains, and for nothing once nothing counts.
    let gone = InvoiceState::evaluate(&t, &[pay(50_000_000, Standing::Gone)], T0);
    assert_eq!((gone.status, gone.confirmed), (Status::Created, None));
}

fn standing() -> impl Strategy<Value = Standing> {
    prop_oneof![
        Just(Standing::Counted),
        Just(Standing::Pending),
        Just(Standing::Gone)
    ]
}

proptest! {
    /// Whatever the payments and however they stand: what counts is exactly the counted
    /// payments, what is processing exactly the pending ones, the settlement balances to what
    /// counts once confirmed (and is nothing before), and the order of the payments changes
    /// nothing.
    #[test]
    fn any_standing_of_payments_keeps_the_books(
        service_client in any::<bool>(),
        transfer_client in any::<bool>(),
        tolerance_cents in 0u32..300,
        accepted in any::<bool>(),
        payments in proptest::collection::vec(((1u64..80_000_000), standing(), any::<bool>()), 0..8),
    ) {
        let side = |c: bool| if c { Side::Client } else { Side::Merchant };
        let mut i = input(side(service_client), side(transfer_client));
        i.tolerance = Tolerance::Usd(Decimal::new(i64::from(tolerance_cents), 2));
        let q = Quote::compute(&i).unwrap();
        let t = Terms { accepted, ..terms(q) };
        let list: Vec<Payment> = payments
            .iter()
            .map(|(a, s, late)| Payment {
                amount: Amount::from_base(u128::from(*a)),
                standing: *s,
                seen_at: if *late { t.expires_at } else { T0 },
            })
            .collect();
        let st = InvoiceState::evaluate(&t, &list, T0);
        let sum = |s: Standing| list.iter().filter(|p| p.standing == s).map(|p| p.amount.base()).sum::<u128>();
        prop_assert_eq!(st.received.base(), sum(Standing::Counted));
        prop_assert_eq!(st.processing.base(), sum(Standing::Pending));
        if st.confirmed.is_some() {
            prop_assert_eq!(st.settled().total(), st.received);
            prop_assert!(matches!(st.status, Status::Paid | Status::Overpaid));
        } else {
            prop_assert_eq!(st.settled(), Settlement::default());
        }
        prop_assert_eq!(st.received.is_zero(), matches!(st.status, Status::Created | Status::Canceled));
        let mut reversed = list.clone();
        reversed.reverse();
        prop_assert_eq!(InvoiceState::evaluate(&t, &reversed, T0), st);
    }

        #[test]
    fn settlement_is_monotonic_and_balanced(received in 0u64..300_000_000, service_client in any::<bool>()) {
        let side = if service_client { Side::Client } else { Side::Merchant };
        let q = Quote::compute(&input(side, Side::Merchant)).unwrap();
        let a = q.settle(Amount::from_base(u128::from(received)));
        let b = q.settle(Amount::from_base(u128::from(received) + 1));
        prop_assert_eq!(a.total().base(), u128::from(received));
        prop_assert!(b.credit >= a.credit && b.service_fee >= a.service_fee && b.transfer_fee >= a.transfer_fee);
    }
}

mod edges;
