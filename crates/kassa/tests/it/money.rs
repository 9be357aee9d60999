//! Money at the edges, over HTTP on both engines: USD figures that cannot overflow, one quoted
//! amount that is the same decimal in the API's float, on the payment page and in what a
//! payment must reach, and one set of bounds for strings and numbers alike. (The whole
//! catalogue is covered by the property tests of `kassa-core` and `kassa-service`; this is
//! the sample through the real server.)

use kassa_core::Decimal;
use kassa_core::currency::{self, Crypto};
use kassa_core::invoice::Side;
use kassa_core::money::{Amount, Exact, Rounding};
use kassa_rates::sources::fixed::FixedSource;
use serde_json::{Value, json};

use crate::engine_test;
use crate::support::TestApp;
use crate::support::api::*;
use crate::support::receiver::Receiver;

/// A JSON number exactly as the server wrote it (plain or with an exponent), as an amount.
fn amount_of(v: &Value, c: &Crypto) -> Amount {
    let text = match v {
        Value::Number(n) => n.to_string(),
        other => panic!("not a number: {other}"),
    };
    let d = if text.contains(['e', 'E']) {
        Decimal::from_scientific(&text).expect("exponent form")
    } else {
        text.parse::<Decimal>().expect("decimal")
    };
    Amount::from_decimal(d.normalize(), c.decimals, Rounding::Down)
        .unwrap_or_else(|e| panic!("{text} is not an amount of {}: {e}", c.code))
}

/// The decimal text of a JSON number as the server wrote it.
fn text_of(v: &Value) -> String {
    v.as_number().expect("number").to_string()
}

/// Pays `amount` of a test invoice through the native test helper.
async fn pay(shop: &Shop, uuid: &str, amount: Amount, c: &Crypto) -> Value {
    shop.pay_ok(
        uuid,
        json!({"amount": amount.to_decimal_string(c.decimals)}),
    )
    .await
}

fn usd_rate(c: &Crypto) -> Decimal {
    FixedSource::builtin().usd(c.symbol).expect("test rate")
}

/// Whether a USD figure the API printed is within a cent of `amount` × the test rate.
fn assert_usd(what: &str, v: &Value, amount: Amount, c: &Crypto) {
    let exact = Exact::amount(amount, c.decimals).times(&Exact::decimal(usd_rate(c)).unwrap());
    let want: f64 = exact.to_text(2, Rounding::HalfUp).parse().unwrap();
    let got = num(what, v);
    assert!(
        (got - want).abs() <= 0.01 + want * 1e-15,
        "{what}: {got} vs {want} ({} {})",
        amount.to_decimal_string(c.decimals),
        c.code
    );
}

async fn create(shop: &Shop, body: Value) -> Reply {
    let mut b = json!({"shop_id": shop.shop_id});
    for (k, v) in body.as_object().unwrap() {
        b[k] = v.clone();
    }
    shop.post("/v2/invoice/create", b).await
}

engine_test!(
    /// Failure 1 of the issue: an 18-decimal amount beyond ~7.9 × 10^10 base units made every
    /// USD figure — the postback's `amount_usdt` included — the decimal type's maximum.
    async fn usd_figures_of_large_amounts_are_exact(engine) {
        let app = TestApp::spawn(engine).await;
        app.clock.set(T0);
        let sink = Receiver::start().await;
        let shop = shop(&app, "o@shop.example", &sink.url).await;
        for (usd, code) in [("1000000", "PEPE_ERC20"), ("2000000", "SHIB_ERC20"), ("2000000", "SHIB_BSC")] {
            let c = currency::crypto(code).unwrap();
            let r = create(&shop, json!({"amount": usd, "add_fields": {"cryptocurrency": code}})).await.success();
            let uuid = r["uuid"].as_str().unwrap().to_owned();
            let due = amount_of(&r["amount"], c);
            assert_usd("amount_usd", &r["amount_usd"], due, c);
            pay(&shop, &uuid, due, c).await;
            let inv = shop.invoice(&uuid).await;
            assert_eq!(inv["status"], "paid", "{inv}");
            for field in ["amount_to_pay_usd", "amount_paid_usd"] {
                assert_usd(field, &inv[field], due, c);
                assert!(num(field, &inv[field]) < 1e7, "{field}: {}", inv[field]);
            }
            let credited = amount_of(&inv["received"], c);
            assert_usd("received_usd", &inv["received_usd"], credited, c);
            assert_usd("service_fee_usd", &inv["service_fee_usd"], amount_of(&inv["service_fee"], c), c);
        }
        app.drain_jobs().await;
        let mut sent: Vec<f64> = sink.hits().iter().map(|h| num("amount_usdt", &h.json()["amount_usdt"])).collect();
        sent.sort_by(f64::total_cmp);
        assert_eq!(sent.len(), 3);
        for (got, usd) in sent.into_iter().zip([1_000_000.0, 2_000_000.0, 2_000_000.0]) {
            assert!((got - usd).abs() < 0.02, "postback amount_usdt {got}, invoice of {usd} USD");
        }
        // The largest service fee of the largest invoice: about 1.9 % of 10^13 USD, exactly.
        for code in ["USDT_BSC", "DAI_ERC20"] {
            let c = currency::crypto(code).unwrap();
            let r = create(&shop, json!({"amount": "9999999999999.99", "add_fields": {"cryptocurrency": code}})).await.success();
            let fee = amount_of(&r["service_fee"], c);
            assert_usd("service_fee_usd", &r["service_fee_usd"], fee, c);
            let fee_usd = num("service_fee_usd", &r["service_fee_usd"]);
            assert!((fee_usd - 190_000_000_000.0).abs() < 1.0, "{code}: {fee_usd}");
        }
    }
);

engine_test!(
    /// Failure 2: the API's float could ask for less than is owed on 18-decimal coins (99.99
    /// USD in ETH, payer pays the fees: the page said 0.029825660000000002, the API
    /// 0.02982566, and paying the API's figure left the invoice partial).
    async fn paying_what_the_api_says_is_paid(engine) {
        let app = TestApp::spawn(engine).await;
        app.clock.set(T0);
        let shop = shop_with_settings(&app, "o@shop.example", |s| {
            s.service_fee_side = Side::Client;
            s.transfer_fee_side = Side::Client;
        })
        .await;
        let eth = currency::crypto("ETH").unwrap();
        let r = create(&shop, json!({"amount": "99.99", "add_fields": {"cryptocurrency": "ETH"}})).await.success();
        let uuid = r["uuid"].as_str().unwrap().to_owned();
        let said = amount_of(&r["amount"], eth);
        // The page shows the very same decimal.
        let page = app.get(&format!("/pay/{}", uuid.trim_start_matches("INV-"))).await.text().await.unwrap();
        assert!(page.contains(&said.to_decimal_string(18)), "page shows {}", said.to_decimal_string(18));
        assert_eq!(text_of(&r["amount"]), said.to_decimal_string(18), "the float is the decimal");
        // One wei short is partial; the API's figure is paid.
        let inv = pay(&shop, &uuid, Amount::from_base(said.base() - 1), eth).await;
        assert_eq!(inv["status"], "partial", "{inv}");
        let rest = amount_of(&inv["to_surcharge"], eth);
        assert_eq!(rest, Amount::from_base(1), "{inv}");
        let inv = pay(&shop, &uuid, rest, eth).await;
        assert_eq!(inv["status"], "paid", "{inv}");
    }
);

engine_test!(
    /// Failure 3: near the maximum the amount was rounded to 28 significant digits before
    /// being rounded up, so it was a few wei short of the price. Now the old maximum is refused
    /// (it is above the new one) and at the new maximum the amount is never short.
    async fn the_largest_invoices_never_under_ask(engine) {
        let app = TestApp::spawn(engine).await;
        app.clock.set(T0);
        let shop = shop_with_settings(&app, "o@shop.example", |s| {
            s.service_fee_side = Side::Client;
        })
        .await;
        let r = create(&shop, json!({"amount": "999999999999999.99", "add_fields": {"cryptocurrency": "ETH"}})).await;
        r.assert_field_error("amount", "Invalid value amount: at most 9999999999999.99 USD.");
        for (usd, code) in [("9999999999999.99", "ETH"), ("9999999999999.99", "BNB"), ("9999999999999.99", "BTC"), ("1234567890123.45", "LTC")] {
            let c = currency::crypto(code).unwrap();
            let r = create(&shop, json!({"amount": usd, "add_fields": {"cryptocurrency": code}})).await.success();
            let due = amount_of(&r["amount"], c);
            let price = amount_of(&r["amount"], c).base() - amount_of(&r["service_fee"], c).base();
            // The price part is worth at least the invoice: price × rate ≥ USD, exactly.
            let worth = Exact::amount(Amount::from_base(price), c.decimals).times(&Exact::decimal(usd_rate(c)).unwrap());
            assert!(worth >= Exact::decimal(usd.parse().unwrap()).unwrap(), "{code}: {price} base units are short of {usd} USD");
            let uuid = r["uuid"].as_str().unwrap().to_owned();
            let inv = pay(&shop, &uuid, due, c).await;
            assert_eq!(inv["status"], "paid", "{code}: {inv}");
        }
    }
);

engine_test!(
    /// Failure 4: bounds disagreed — a string accepted where the same number was refused,
    /// 999999999999999.995 invoiced as 10^15, JPY 99.99 silently invoiced as 100, 1 VND
    /// invoiced as one satoshi, PEPE and SHIB refusing amounts with no reason.
    async fn one_set_of_bounds_for_strings_and_numbers(engine) {
        let app = TestApp::spawn(engine).await;
        app.clock.set(T0);
        let shop = shop(&app, "o@shop.example", "").await;
        // The same value as a string and as a JSON number (its digits kept): the same answer.
        let as_number: Value = serde_json::from_str(&format!(r#"{{"shop_id": "{}", "amount": 999999999999999.995}}"#, shop.shop_id)).unwrap();
        let number = shop.post("/v2/invoice/create", as_number).await.field_error("amount");
        let string = create(&shop, json!({"amount": "999999999999999.995"})).await.field_error("amount");
        assert_eq!(number, string);
        assert_eq!(string, "Invalid value amount: USD amounts have at most 2 decimal places.");
        let exp: Value = serde_json::from_str(&format!(r#"{{"shop_id": "{}", "amount": 1.25e2}}"#, shop.shop_id)).unwrap();
        let r = shop.post("/v2/invoice/create", exp).await.success();
        assert_eq!(text_of(&r["amount_in_fiat"]), "125.0");
        // Currencies without fractions refuse them.
        create(&shop, json!({"amount": "99.99", "currency": "JPY"}))
            .await
            .assert_field_error("amount", "Invalid value amount: JPY amounts have at most 0 decimal places.");
        let r = create(&shop, json!({"amount": 100, "currency": "JPY"})).await.success();
        assert_eq!(num("amount_in_fiat", &r["amount_in_fiat"]), 100.0);
        // Worth less than a cent: refused, with the smallest amount in the invoice's currency.
        create(&shop, json!({"amount": "1", "currency": "VND"}))
            .await
            .assert_field_error("amount", "Invalid value amount: the smallest invoice is worth 0.01 USD (254 VND).");
        assert_eq!(num("amount_usd", &create(&shop, json!({"amount": "254", "currency": "VND"})).await.success()["amount_usd"]), 0.01);
        // Below a network's dust limit: refused, with the limit.
        create(&shop, json!({"amount": "0.05", "add_fields": {"cryptocurrency": "BTC"}}))
            .await
            .assert_field_error("amount", "Invalid value amount: the smallest payment in BTC is 0.00000294 BTC.");
        let r = create(&shop, json!({"amount": "0.29", "add_fields": {"cryptocurrency": "BTC"}})).await.success();
        assert!(amount_of(&r["amount"], currency::crypto("BTC").unwrap()).base() >= 294);
        // The meme coins take every amount below their own maximum and say what it is above.
        for code in ["PEPE_ERC20", "SHIB_BSC"] {
            let r = create(&shop, json!({"amount": "5000000000", "add_fields": {"cryptocurrency": code}})).await.success();
            assert_eq!(r["currency"]["fullcode"], code);
            let symbol = currency::crypto(code).unwrap().symbol;
            create(&shop, json!({"amount": "9999999999999.99", "add_fields": {"cryptocurrency": code}}))
                .await
                .assert_field_error("amount", &format!("Invalid value amount: the largest amount payable in {code} is 999999999999999 {symbol}."));
        }
        // Nothing half-written: only the accepted invoices exist.
        let listed = shop.post("/v2/invoice/merchant/list", json!({"start": T0_DAY, "end": T0_DAY})).await;
        let all = listed.body["all_count"].as_u64();
        assert_eq!(all, Some(6), "invoices made");
    }
);

engine_test!(
    /// The sample over HTTP: fiat × crypto × who pays the fees × amounts from the smallest to
    /// the largest. The float the API prints is the amount the page shows; paying it is paid,
    /// one base unit less is partial and the rest the API names completes it; USD figures are
    /// within a cent of amount × rate.
    async fn a_sample_of_the_catalogue_pays_as_quoted(engine) {
        let app = TestApp::spawn(engine).await;
        app.clock.set(T0);
        let shops = [
            shop(&app, "merchant@shop.example", "").await,
            shop_with_settings(&app, "payer@shop.example", |s| {
                s.service_fee_side = Side::Client;
                s.transfer_fee_side = Side::Client;
            })
            .await,
        ];
        let fiats = ["USD", "JPY", "VND", "EUR", "RUB", "GBP"];
        let cryptos = ["ETH", "BTC", "LTC", "USDT_TRC20", "PEPE_ERC20", "SHIB_BSC", "DAI_ERC20", "USDT_BSC", "BNB", "TRX", "SOL", "XAUT_ERC20"];
        let amounts = ["1", "3.07", "99.99", "123456.78", "987654321.01"];
        let mut seed = 0x2545_f491_u64;
        let mut next = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        let mut paid = 0;
        for _ in 0..24 {
            let shop = &shops[next(2)];
            let fiat = fiats[next(fiats.len())];
            let Some(f) = currency::fiat(fiat) else { continue };
            let c = currency::crypto(cryptos[next(cryptos.len())]).unwrap();
            let mut amount = amounts[next(amounts.len())].to_owned();
            if f.decimals == 0 {
                amount = amount.split('.').next().unwrap().to_owned();
            }
            let r = create(shop, json!({"amount": amount, "currency": fiat, "add_fields": {"cryptocurrency": c.code}})).await;
            if r.status != reqwest::StatusCode::OK {
                // Only a bound may refuse, and it says which.
                let msg = r.field_error("amount");
                assert!(msg.starts_with("Invalid value amount: the smallest") || msg.starts_with("Invalid value amount: the largest"), "{amount} {fiat} in {}: {msg}", c.code);
                continue;
            }
            let r = r.success();
            let uuid = r["uuid"].as_str().unwrap().to_owned();
            let due = amount_of(&r["amount"], c);
            assert!(due.is_quotable(c.decimals), "{} {}", text_of(&r["amount"]), c.code);
            let page = app.get(&format!("/pay/{}", uuid.trim_start_matches("INV-"))).await.text().await.unwrap();
            assert!(page.contains(&format!(">{}<", due.to_decimal_string(c.decimals))) || page.contains(&due.to_decimal_string(c.decimals)), "page of {uuid}");
            let inv = shop.invoice(&uuid).await;
            assert_eq!(amount_of(&inv["amount_to_pay"], c), due);
            assert_usd("amount_to_pay_usd", &inv["amount_to_pay_usd"], due, c);
            let inv = pay(shop, &uuid, Amount::from_base(due.base() - 1), c).await;
            assert_eq!(inv["status"], "partial", "{amount} {fiat} in {}: {inv}", c.code);
            let rest = amount_of(&inv["to_surcharge"], c);
            let inv = pay(shop, &uuid, rest, c).await;
            assert_eq!(inv["status"], "paid", "{amount} {fiat} in {}: {inv}", c.code);
            assert_usd("amount_paid_usd", &inv["amount_paid_usd"], due, c);
            paid += 1;
        }
        assert!(paid >= 12, "most of the sample is payable: {paid}");
    }
);
