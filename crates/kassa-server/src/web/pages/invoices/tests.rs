use serde_json::json;

use super::create::parse_new;
use super::show::event_text;
use super::*;
use kassa_service::i18n::{Lang, catalog};

#[test]
fn every_status_and_event_reads_as_a_sentence() {
    for lang in Lang::ALL {
        let tr = Tr::new(lang);
        for s in STATUSES {
            assert!(catalog(Lang::En).contains_key(status_key(s)), "{s:?}");
        }
        for c in [
            Confirmation::Payment,
            Confirmation::Tolerance,
            Confirmation::Merchant,
        ] {
            assert!(catalog(Lang::En).contains_key(confirmation_key(c)));
        }
        let events = [
            ("created", json!({"price": "15", "currency": "EUR"})),
            (
                "created",
                json!({"price": "15", "currency": "EUR", "by": "dashboard", "user": "o@x.example"}),
            ),
            ("created", json!({"static_wallet": "W", "identify": "c1"})),
            (
                "currency_chosen",
                json!({"currency": "BTC", "address": "bc1q", "amount": "0.1", "rate_usd": "97000", "rate_source": "fixed"}),
            ),
            (
                "payment_seen",
                json!({"txid": "ab", "amount": "1", "currency": "BTC", "late": false}),
            ),
            (
                "payment_confirmed",
                json!({"txid": "ab", "amount": "1", "currency": "BTC", "late": true}),
            ),
            (
                "payment_dropped",
                json!({"txid": "ef", "amount": "2", "currency": "LTC"}),
            ),
            (
                "payment_reversed",
                json!({"txid": "ef", "amount": "2", "currency": "LTC"}),
            ),
            (
                "reversal_shortfall",
                json!({"txid": "ef", "amount": "2", "currency": "LTC"}),
            ),
            (
                "other_currency_gone",
                json!({"txid": "ef", "amount": "2", "currency": "LTC"}),
            ),
            (
                "other_currency_seen",
                json!({"txid": "cd", "amount": "2", "currency": "LTC", "late": false}),
            ),
            (
                "other_currency_confirmed",
                json!({"txid": "cd", "amount": "2", "currency": "LTC", "late": false}),
            ),
            (
                "status_changed",
                json!({"from": "created", "to": "partial"}),
            ),
            ("confirmed", json!({"by": "merchant"})),
            ("confirmed", json!({"by": "tolerance"})),
            ("confirmed", json!({"by": "payment"})),
            ("postback_queued", json!({"url": "https://x.example/pb"})),
            (
                "postback_resent",
                json!({"by": "dashboard", "user": "o@x.example"}),
            ),
            ("canceled", json!({"by": "api"})),
            (
                "canceled",
                json!({"by": "dashboard", "user": "o@x.example"}),
            ),
            ("canceled", json!({"by": "test"})),
            ("partial_confirmed", json!({"by": "api"})),
            (
                "partial_confirmed",
                json!({"by": "dashboard", "user": "o@x.example"}),
            ),
            ("expired", json!({})),
            ("link_sent", json!({"to": "p@x.example"})),
            (
                "link_sent",
                json!({"to": "p@x.example", "by": "dashboard", "user": "o@x.example"}),
            ),
            ("something_new", json!({"a": "b"})),
        ];
        for (kind, d) in events {
            let text = event_text(tr, kind, &d);
            assert!(
                !text.contains('{') && !text.contains("invoices."),
                "{}: {kind} reads {text:?}",
                lang.code()
            );
        }
    }
    let tr = Tr::new(Lang::En);
    assert_eq!(
        event_text(
            tr,
            "status_changed",
            &json!({"from": "created", "to": "paid"})
        ),
        "Status changed from “Waiting for payment” to “Paid”."
    );
    assert_eq!(
        event_text(
            tr,
            "canceled",
            &json!({"by": "dashboard", "user": "o@x.example"})
        ),
        "Cancelled by o@x.example."
    );
}

#[test]
fn invoice_ids_in_paths_are_checked() {
    assert_eq!(normalise_uuid("inv-ab12cd34").as_deref(), Some("AB12CD34"));
    assert_eq!(normalise_uuid("AB12CD34").as_deref(), Some("AB12CD34"));
    assert_eq!(normalise_uuid("AB12CD3"), None);
    assert_eq!(normalise_uuid("AB12CD3%"), None);
}

#[test]
fn the_form_refuses_inexact_amounts() {
    let tr = Tr::new(Lang::En);
    let usdt = currency::crypto("USDT_TRC20")
        .into_iter()
        .collect::<Vec<_>>();
    let form = |amount: &str, code: &str| NewInput {
        amount: amount.into(),
        currency: code.into(),
        allowed: vec!["USDT_TRC20".into()],
        ..NewInput::default()
    };
    for (amount, code) in [
        ("12.345", "USD"),
        ("1.5", "JPY"),
        ("-1", "USD"),
        ("0", "USD"),
        ("1.2.3", "USD"),
        ("0.0000001", "USDT_TRC20"),
        ("100.5", "JPY"),
        ("10000000000000", "USD"),
        ("0.123456789", "ETH"),
        ("abc", "USDT_TRC20"),
    ] {
        let e = parse_new(tr, &form(amount, code), &usdt).unwrap_err();
        assert!(e.has("amount"), "{amount} {code}");
    }
    let ok = parse_new(tr, &form("12.50", "USD"), &usdt).unwrap();
    assert!(matches!(ok.price, Price::Fiat(f, d) if f.code == "USD" && d.to_string() == "12.5"));
    assert!(
        ok.allowed.is_empty(),
        "every offered currency ticked means the project's"
    );
    let ok = parse_new(tr, &form("0.000001", "USDT_TRC20"), &usdt).unwrap();
    assert!(
        matches!(ok.price, Price::Crypto(c, a) if c.code == "USDT_TRC20" && a == Amount::from_base(1))
    );
    assert!(
        parse_new(tr, &form("1", "XYZ"), &usdt)
            .unwrap_err()
            .has("currency")
    );
    assert!(
        parse_new(tr, &form("1", "BTC"), &usdt)
            .unwrap_err()
            .has("currency")
    );
}
