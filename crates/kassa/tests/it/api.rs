//! The CryptoCloud API v2 contract (`shared/spec/cryptocloud-api-v2.md`), endpoint by endpoint:
//! the exact keys and JSON types of every response object, the formats of its strings, every
//! documented error with its status and envelope, lenient input (JSON and PHP-style forms),
//! and the behaviour behind list, info, statistics, static wallets and the test helper.
//!
//! Expected values are written from the contract, not from the server's code. Time stands
//! still at `T0` unless a test moves it, so datetimes are compared exactly.

use std::time::Duration;

use kassa_core::currency;
use kassa_core::{Amount, Decimal, Timestamp};
use kassa_service::i18n::Lang;
use kassa_service::invoices::{self as service, NewInvoiceRequest, Price};
use kassa_service::payments::{self, TransferReport};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::engine_test;
use crate::support::TestApp;
use crate::support::api::*;
use crate::support::receiver::Receiver;

/// The 25 fiat codes of section 6.
const FIATS: [&str; 25] = [
    "USD", "UZS", "KGS", "KZT", "AMD", "AZN", "BYN", "AUD", "TRY", "AED", "CAD", "CNY", "HKD",
    "IDR", "INR", "JPY", "PHP", "SGD", "THB", "VND", "MYR", "RUB", "UAH", "EUR", "GBP",
];

/// The 40 crypto codes of section 6.
const CRYPTOS: [&str; 40] = [
    "BTC",
    "LTC",
    "TRX",
    "SOL",
    "TON",
    "BNB",
    "ETH",
    "ETH_ARB",
    "ETH_BASE",
    "ETH_OPT",
    "USDT_ARB",
    "USDT_BSC",
    "USDT_ERC20",
    "USDT_OPT",
    "USDT_SOL",
    "USDT_TON",
    "USDT_TRC20",
    "USDC_ARB",
    "USDC_BASE",
    "USDC_BSC",
    "USDC_ERC20",
    "USDC_OPT",
    "USDC_SOL",
    "DAI_ARB",
    "DAI_BASE",
    "DAI_BSC",
    "DAI_ERC20",
    "DAI_OPT",
    "USDD_TRC20",
    "PYUSD_ERC20",
    "PYUSD_SOL",
    "XAUT_ERC20",
    "XAUT_TON",
    "ARB_ARB",
    "OP_OPT",
    "PEPE_BSC",
    "PEPE_ERC20",
    "SHIB_BSC",
    "SHIB_ERC20",
    "TRUMP_SOL",
];

/// Every v2 endpoint (and the native helper, which authenticates the same way).
const V2_PATHS: [&str; 9] = [
    "/v2/invoice/create",
    "/v2/invoice/merchant/canceled",
    "/v2/invoice/merchant/list",
    "/v2/invoice/merchant/info",
    "/v2/invoice/merchant/statistics",
    "/v2/merchant/statistics",
    "/v2/merchant/wallet/balance/all",
    "/v2/invoice/static/create",
    "/api/v1/test-helpers/invoices/INV-AAAAAAAA/pay",
];

/// An app standing at `T0` with one test-mode shop.
async fn setup(engine: crate::support::Engine) -> (TestApp, Shop) {
    let app = TestApp::spawn(engine).await;
    app.clock.set(T0);
    let shop = shop(&app, "o@shop.example", "").await;
    (app, shop)
}

fn day_range() -> Value {
    json!({"start": T0_DAY, "end": T0_DAY})
}

/// The network of a crypto code: `<TOKEN>_<NETWORK>`, native coins bare.
fn network_of(code: &str) -> &str {
    match code {
        "TRX" => "TRC20",
        "BNB" => "BSC",
        "ETH" => "ERC20",
        "BTC" | "LTC" | "SOL" | "TON" => code,
        _ => code.split_once('_').expect("TOKEN_NETWORK").1,
    }
}

fn uuid_of(v: &Value) -> String {
    v["uuid"].as_str().expect("uuid").to_owned()
}

fn bare(uuid: &str) -> &str {
    uuid.strip_prefix("INV-").expect("INV- prefix")
}

async fn list(shop: &Shop, body: Value) -> (Vec<Value>, Value) {
    let r = shop.post("/v2/invoice/merchant/list", body).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let obj = r.body.as_object().expect("object");
    assert_eq!(
        obj.keys().map(String::as_str).collect::<Vec<_>>(),
        ["all_count", "result", "status"],
        "list envelope {}",
        r.body
    );
    assert_eq!(obj["status"], "success");
    assert!(obj["all_count"].is_i64(), "all_count is an integer");
    (
        obj["result"].as_array().expect("result array").clone(),
        obj["all_count"].clone(),
    )
}

fn order_ids(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|i| i["order_id"].as_str().expect("order_id").to_owned())
        .collect()
}

// =============================================================================================
// 1. Shapes and formats, endpoint by endpoint
// =============================================================================================

engine_test!(
    async fn create_result_has_the_contract_shape(engine) {
        let (app, shop) = setup(engine).await;
        assert_shop_id(&shop.shop_id);
        let r = shop.create(100.0, json!({})).await;
        assert_shape(&r, &created_shape());
        let id = assert_invoice_uuid(&r["uuid"]);
        assert_datetime("created", &r["created"]);
        assert_datetime("expiry_date", &r["expiry_date"]);
        assert_eq!(r["created"], T0_TEXT);
        // The project's default lifetime is 24 hours.
        assert_eq!(r["expiry_date"], "2025-03-11 12:00:00.123456");
        assert_eq!(r["address"], "", "no address before a currency is chosen");
        assert_link(&app.base, &r["link"], &id);
        for k in [
            "side_commission",
            "side_commission_cc",
            "side_commission_service",
        ] {
            assert_eq!(r[k], "merchant", "{k}");
        }
        assert_eq!(r["type_payments"], "crypto");
        assert_eq!(r["status"], "created");
        assert_eq!(r["fiat_currency"], "USD");
        assert_eq!(r["amount"], json!(100.0), "the fiat figure until chosen");
        assert_eq!(r["amount_usd"], json!(100.0));
        assert_eq!(r["amount_in_fiat"], json!(100.0));
        // Reference fees: 1.4 USD transfer fee on TRC20, 1.9 % service fee (USDT at 1 USD).
        assert_amount("fee", &r["fee"], 1.4);
        assert_amount("fee_usd", &r["fee_usd"], 1.4);
        assert_amount("service_fee", &r["service_fee"], 1.9);
        assert_amount("service_fee_usd", &r["service_fee_usd"], 1.9);
        assert_eq!(r["is_email_required"], false);
        assert_eq!(r["invoice_id"], Value::Null);
        assert_eq!(r["test_mode"], true);
        // Until the payer chooses: the first accepted currency, USDT_TRC20.
        let c = &r["currency"];
        assert_eq!(c["id"], 4);
        assert_eq!(c["code"], "USDT");
        assert_eq!(c["fullcode"], "USDT_TRC20");
        assert_eq!(c["name"], "Tether");
        assert_eq!(c["stablecoin"], true);
        assert_eq!(c["is_email_required"], false);
        assert_eq!(c["order"], 1);
        assert_eq!(c["network"]["code"], "TRC20");
        assert_eq!(c["network"]["id"], 4);
        assert_eq!(c["network"]["fullname"], "Tron");
        // Icons are served by Kassa itself.
        for url in [
            &c["icon_base"],
            &c["icon_network"],
            &c["icon_qr"],
            &c["network"]["icon"],
        ] {
            let url = url.as_str().expect("icon url");
            assert!(url.starts_with(&format!("{}/", app.base)), "{url}");
            let got = app.client.get(url).send().await.expect("icon");
            assert_eq!(got.status(), StatusCode::OK, "{url}");
        }
        assert_eq!(
            r["project"],
            json!({"id": shop.id.get(), "name": "Shop", "fail": "", "success": "", "logo": null})
        );
    }
);

engine_test!(
    async fn create_with_cryptocurrency_locks_an_address_and_the_crypto_amount(engine) {
        let (_app, shop) = setup(engine).await;
        let mut addresses = Vec::new();
        for code in CRYPTOS {
            let network = network_of(code);
            let r = shop
                .create(100.0, json!({"add_fields": {"cryptocurrency": code}}))
                .await;
            assert_shape(&r, &created_shape());
            assert_eq!(r["currency"]["fullcode"], code);
            assert_eq!(r["currency"]["network"]["code"], network);
            assert_address(network, &r["address"]);
            assert_eq!(r["amount_usd"], json!(100.0), "{code}");
            assert_eq!(r["amount_in_fiat"], json!(100.0), "{code}");
            addresses.push(r["address"].as_str().unwrap().to_owned());
            let info = shop.invoice(&uuid_of(&r)).await;
            assert_shape(&info, &invoice_shape());
            assert_eq!(info["address"], r["address"], "{code}: the same address later");
            assert_eq!(info["amount_in_crypto"], r["amount"], "{code}");
            assert_eq!(info["amount_to_pay"], r["amount"], "{code}");
        }
        let mut unique = addresses.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), addresses.len(), "every invoice its own address");

        // The amount is the crypto figure: 100 USD at the test rates (USDT 1, BTC 97000),
        // rounded up to the coin's precision; the fees are in that currency.
        let usdt = shop
            .create(100.0, json!({"add_fields": {"cryptocurrency": "USDT_TRC20"}}))
            .await;
        assert_amount("amount", &usdt["amount"], 100.0);
        assert_amount("fee", &usdt["fee"], 1.4);
        assert_amount("service_fee", &usdt["service_fee"], 1.9);
        let btc = shop
            .create(100.0, json!({"add_fields": {"cryptocurrency": "BTC"}}))
            .await;
        assert_amount("amount", &btc["amount"], 0.00103093);
        assert_amount("fee", &btc["fee"], 0.0);
        assert_amount("service_fee", &btc["service_fee"], 0.00001959);
        assert_amount("service_fee_usd", &btc["service_fee_usd"], 1.9);
    }
);

engine_test!(
    async fn invoice_object_has_the_contract_shape_in_list_and_info(engine) {
        let (app, shop) = setup(engine).await;
        let fresh = shop.create(25.5, json!({})).await;
        let fresh_id = uuid_of(&fresh);
        let (items, all) = list(&shop, day_range()).await;
        assert_eq!(all, 1);
        assert_eq!(items.len(), 1);
        let info = shop.invoice(&fresh_id).await;
        assert_eq!(items[0], info, "list and info show the same object");
        let o = &info;
        assert_shape(o, &invoice_shape());
        let id = assert_invoice_uuid(&o["uuid"]);
        assert_eq!(o["uuid"], fresh["uuid"]);
        assert_eq!(o["created"], T0_TEXT);
        assert_eq!(o["expiry_date"], fresh["expiry_date"]);
        assert_eq!(o["address"], "");
        assert_eq!(o["date_finished"], Value::Null);
        assert_eq!(o["amount"], json!(25.5));
        assert_eq!(o["amount_in_crypto"], Value::Null, "unknown before a currency is chosen");
        assert_eq!(o["amount_usd"], json!(25.5));
        assert_eq!(o["amount_in_fiat"], json!(25.5));
        assert_eq!(o["amount_paid"], json!(0.0));
        assert_eq!(o["received"], json!(0.0));
        assert_eq!(o["to_surcharge"], json!(0.0));
        assert_eq!(o["status"], "created");
        assert_eq!(o["invoice_status"], "created");
        assert_eq!(o["order_id"], "", "order_id is \"\" when unset");
        assert_eq!(o["user_email"], Value::Null);
        assert_eq!(o["tx_list"], json!([]));
        assert_link(&app.base, &o["pay_url"], &id);
        assert_link(&app.base, &o["link"], &id);
        assert_eq!(o["currency"]["fullcode"], "USDT_TRC20");
        assert_eq!(o["fiat_currency"], "USD");
        assert_eq!(o["test_mode"], true);
        assert_eq!(o["invoice_id"], Value::Null);

        // Paid: finished, confirmed, with its transaction.
        let paid = shop
            .create(
                100.0,
                json!({"order_id": "A-1", "email": "payer@example.com", "add_fields": {"cryptocurrency": "USDT_TRC20"}}),
            )
            .await;
        app.clock.advance(Duration::from_secs(60));
        shop.pay_ok(&uuid_of(&paid), json!({"amount": "100"})).await;
        let o = shop.invoice(&uuid_of(&paid)).await;
        assert_shape(&o, &invoice_shape());
        assert_eq!(o["status"], "paid");
        assert_eq!(o["invoice_status"], "success");
        assert_eq!(o["date_finished"], "2025-03-10 12:01:00.123456");
        assert_eq!(o["order_id"], "A-1");
        assert_eq!(o["user_email"], "payer@example.com");
        assert_amount("amount_paid", &o["amount_paid"], 100.0);
        assert_amount("amount_paid_usd", &o["amount_paid_usd"], 100.0);
        assert_amount("amount_to_pay", &o["amount_to_pay"], 100.0);
        assert_amount("amount_to_pay_usd", &o["amount_to_pay_usd"], 100.0);
        // Credited after fees: 100 − 1.9 − 1.4.
        assert_amount("received", &o["received"], 96.7);
        assert_amount("received_usd", &o["received_usd"], 96.7);
        let txs = o["tx_list"].as_array().expect("tx_list");
        assert_eq!(txs.len(), 1);
        let tx = txs[0].as_str().expect("tx hash is a string");
        assert!(
            tx.len() == 64 && tx.chars().all(|c| c.is_ascii_hexdigit()),
            "TRON tx id {tx}"
        );
    }
);

engine_test!(
    async fn cancel_answers_ok_and_the_invoice_is_canceled(engine) {
        let (_app, shop) = setup(engine).await;
        let inv = shop.create(10.0, json!({})).await;
        let r = shop
            .post(
                "/v2/invoice/merchant/canceled",
                json!({"uuid": inv["uuid"]}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.body, json!({"status": "success", "result": ["ok"]}));
        let o = shop.invoice(&uuid_of(&inv)).await;
        assert_shape(&o, &invoice_shape());
        assert_eq!(o["status"], "canceled");
        assert_eq!(o["invoice_status"], "canceled");
        assert_eq!(o["date_finished"], T0_TEXT);
    }
);

engine_test!(
    async fn statistics_has_the_contract_shape_at_both_paths(engine) {
        let (_app, shop) = setup(engine).await;
        shop.create(10.0, json!({})).await;
        for path in [
            "/v2/invoice/merchant/statistics",
            "/v2/merchant/statistics",
        ] {
            let r = shop.post(path, day_range()).await.success();
            assert_shape(&r, &statistics_shape());
            assert_eq!(r["count"]["all"], 1, "{path}");
            assert_eq!(r["count"]["created"], 1, "{path}");
            assert_eq!(r["amount"]["all"], json!(10.0), "{path}");
            assert_eq!(r["amount"]["paid"], json!(0.0), "{path}");
        }
    }
);

engine_test!(
    async fn balance_has_the_contract_shape(engine) {
        let (app, shop) = setup(engine).await;
        // Test payments never credit balances, and no network takes live payments in this
        // build: nothing to list yet.
        let inv = shop
            .create(10.0, json!({"add_fields": {"cryptocurrency": "USDT_TRC20"}}))
            .await;
        shop.pay_ok(&uuid_of(&inv), json!({"amount": "10"})).await;
        let r = shop
            .post("/v2/merchant/wallet/balance/all", json!({}))
            .await
            .success();
        assert_eq!(r, json!([]));

        // Live money (an invoice as the network layer will make it): the currency is listed.
        shop.go_live(&app).await;
        let address = "TLa2f6VPqDgRE67v1736s7bJ8Ray5wYjU7";
        live_invoice(&app, shop.id, "USDT_TRC20", "100", address).await;
        let usdt = currency::crypto("USDT_TRC20").unwrap();
        let report = |txid: &'static str, amount: &str| TransferReport {
            network: usdt.network,
            txid,
            index: 0,
            address,
            amount: Amount::parse(amount, 6).unwrap(),
            currency: usdt,
            confirmed: true,
            confirmations: 20,
            test: false,
        };
        let balance = || async {
            let r = shop
                .post("/v2/merchant/wallet/balance/all", json!({}))
                .await
                .success();
            assert_shape(&r, &json!([balance_shape()]));
            let entries = r.as_array().unwrap().clone();
            assert_eq!(entries.len(), 1, "{r}");
            entries[0].clone()
        };
        // Confirmed but partial: the merchant's money, not yet withdrawable.
        payments::record_transfer(&app.state, &report("a", "60"))
            .await
            .unwrap();
        let e = balance().await;
        let c = &e["currency"];
        assert_eq!(c["code"], "USDT_TRC20", "code is the full code");
        assert_eq!(c["short_code"], "USDT");
        assert_eq!(c["id"], 4);
        assert_eq!(c["name"], "Tether");
        assert_eq!(c["stablecoin"], true);
        assert_eq!(c["order"], 1);
        assert_eq!(
            c["obj_network"]["code"], "TRC20",
        );
        assert_eq!(c["obj_network"]["id"], 4);
        assert_eq!(c["obj_network"]["fullname"], "Tron");
        assert_eq!(c["enable"], false, "the network takes no live payments");
        assert_eq!(c["enabled"], c["enable"]);
        assert_amount("balance_crypto", &e["balance_crypto"], 60.0);
        assert_amount("available_balance", &e["available_balance"], 0.0);
        // Paid: the credit less fees (1.9 + 1.4) is available.
        payments::record_transfer(&app.state, &report("b", "40"))
            .await
            .unwrap();
        let e = balance().await;
        assert_amount("balance_crypto", &e["balance_crypto"], 96.7);
        assert_amount("available_balance", &e["available_balance"], 96.7);
    }
);

engine_test!(
    async fn static_wallet_has_the_contract_shape(engine) {
        let (_app, shop) = setup(engine).await;
        let r = shop
            .post(
                "/v2/invoice/static/create",
                json!({"shop_id": shop.shop_id, "currency": "USDT_TRC20", "identify": "customer-1"}),
            )
            .await
            .success();
        assert_shape(&r, &static_wallet_shape());
        assert_static_wallet_uuid(&r["uuid"]);
        assert_address("TRC20", &r["address"]);
        let c = &r["currency"];
        assert_eq!(c["code"], "USDT_TRC20");
        assert_eq!(c["short_code"], "USDT");
        assert_eq!(c["id"], 4);
        assert_eq!(c["obj_network"]["code"], "TRC20");
        assert_eq!(c["enable"], true);
        assert_eq!(c["enabled"], true);
        let btc = shop
            .post(
                "/v2/invoice/static/create",
                json!({"shop_id": shop.shop_id, "currency": "BTC", "identify": "customer-1"}),
            )
            .await
            .success();
        assert_shape(&btc, &static_wallet_shape());
        assert_address("BTC", &btc["address"]);
        assert_eq!(btc["currency"]["code"], "BTC");
    }
);

engine_test!(
    async fn v1_create_and_info_have_the_legacy_shape(engine) {
        let (app, shop) = setup(engine).await;
        let r = shop
            .post(
                "/v1/invoice/create",
                json!({"shop_id": shop.shop_id, "amount": 15, "currency": "EUR", "order_id": "v1-order", "email": "a@b.example"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
        assert_shape(
            &r.body,
            &json!({"status": "string", "pay_url": "string", "currency": "string", "invoice_id": "string"}),
        );
        assert_eq!(r.body["status"], "success");
        assert_eq!(r.body["currency"], "EUR");
        let id = r.body["invoice_id"].as_str().unwrap().to_owned();
        assert!(
            id.len() == 8
                && id
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()),
            "v1 invoice_id {id:?} is 8 characters without INV-"
        );
        assert_link(&app.base, &r.body["pay_url"], &id);
        let o = shop.invoice(&id).await;
        assert_eq!(o["order_id"], "v1-order");
        assert_eq!(o["fiat_currency"], "EUR");
        assert_eq!(o["amount_in_fiat"], json!(15.0));

        for q in [format!("INV-{id}"), id.clone()] {
            let r = shop.get(&format!("/v1/invoice/info?uuid={q}")).await;
            assert_eq!(r.status, StatusCode::OK, "{r:?}");
            assert_eq!(
                r.body,
                json!({"status": "success", "status_invoice": "created"})
            );
        }
        // Overpaid reads as paid in v1's four statuses.
        shop.pay_ok(
            &id,
            json!({"amount": "20", "currency": "USDT_TRC20"}),
        )
        .await;
        let r = shop.get(&format!("/v1/invoice/info?uuid=INV-{id}")).await;
        assert_eq!(
            r.body,
            json!({"status": "success", "status_invoice": "paid"})
        );
        let partial = shop.create(10.0, json!({"add_fields": {"cryptocurrency": "USDT_TRC20"}})).await;
        shop.pay_ok(&uuid_of(&partial), json!({"amount": "4"})).await;
        let r = shop.get(&format!("/v1/invoice/info?uuid={}", uuid_of(&partial))).await;
        assert_eq!(r.body, json!({"status": "success", "status_invoice": "partial"}));
        let gone = shop.create(10.0, json!({})).await;
        shop.post("/v2/invoice/merchant/canceled", json!({"uuid": gone["uuid"]})).await.success();
        let r = shop.get(&format!("/v1/invoice/info?uuid={}", uuid_of(&gone))).await;
        assert_eq!(r.body, json!({"status": "success", "status_invoice": "canceled"}));
        // An id that is not the shop's is not found.
        let r = shop.get("/v1/invoice/info?uuid=INV-ZZZZZZZZ").await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
    }
);

engine_test!(
    async fn test_helper_answers_with_the_invoice_object(engine) {
        let (_app, shop) = setup(engine).await;
        let inv = shop.create(100.0, json!({})).await;
        let r = shop
            .pay(
                &uuid_of(&inv),
                json!({"amount": "100", "currency": "USDT_TRC20"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
        assert_shape(
            &r.body,
            &json!({"status": "string", "result": invoice_shape()}),
        );
        assert_eq!(r.body["status"], "success");
        let o = &r.body["result"];
        assert_eq!(o["uuid"], inv["uuid"]);
        assert_eq!(o["status"], "paid");
        assert_eq!(o["invoice_status"], "success");
        assert_address("TRC20", &o["address"]);
        assert_eq!(o["tx_list"].as_array().map(Vec::len), Some(1));
    }
);

// =============================================================================================
// 2. Documented errors
// =============================================================================================

engine_test!(
    async fn v2_without_a_key_is_401_with_detail(engine) {
        let (app, _shop) = setup(engine).await;
        for path in V2_PATHS {
            let r = app
                .client
                .post(format!("{}{path}", app.base))
                .json(&json!({}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
            let body: Value = r.json().await.unwrap();
            assert_eq!(
                body,
                json!({"detail": "Authentication credentials were not provided."}),
                "{path}"
            );
        }
    }
);

engine_test!(
    async fn v2_with_a_wrong_key_is_401_with_detail(engine) {
        let (app, shop) = setup(engine).await;
        for path in V2_PATHS {
            for header in [
                "Token not-a-key".to_owned(),
                "Token ".to_owned(),
                format!("Token {}x", shop.key),
                format!("Basic {}", shop.key),
            ] {
                let r = app
                    .client
                    .post(format!("{}{path}", app.base))
                    .header("Authorization", &header)
                    .json(&json!({"shop_id": shop.shop_id, "amount": 1}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path} with {header}");
                let body: Value = r.json().await.unwrap();
                assert_eq!(body, json!({"detail": "Invalid token."}), "{path}");
            }
        }
    }
);

engine_test!(
    async fn v1_without_or_with_a_wrong_key_is_401_unauthenticated(engine) {
        let (app, shop) = setup(engine).await;
        for auth in [None, Some("Token wrong".to_owned()), Some(format!("Token {}0", shop.key))] {
            let mut create = app
                .client
                .post(format!("{}/v1/invoice/create", app.base))
                .json(&json!({"shop_id": shop.shop_id, "amount": 1}));
            let mut info = app
                .client
                .get(format!("{}/v1/invoice/info?uuid=INV-AAAAAAAA", app.base));
            if let Some(a) = &auth {
                create = create.header("Authorization", a);
                info = info.header("Authorization", a);
            }
            for req in [create, info] {
                let r = req.send().await.unwrap();
                assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{auth:?}");
                let body: Value = r.json().await.unwrap();
                assert_eq!(body, json!({"message": "Unauthenticated."}), "{auth:?}");
            }
        }
    }
);

engine_test!(
    async fn create_without_shop_id_is_400(engine) {
        let (_app, shop) = setup(engine).await;
        for body in [
            json!({"amount": 10}),
            json!({"amount": 10, "shop_id": ""}),
            json!({"amount": 10, "shop_id": null}),
        ] {
            shop.post("/v2/invoice/create", body)
                .await
                .assert_field_error("shop_id", "shop_id not passed.");
        }
        shop.post_form("/v1/invoice/create", "amount=10")
            .await
            .assert_field_error("shop_id", "shop_id not passed.");
        // Another shop's id is refused under the same key.
        let r = shop
            .post(
                "/v2/invoice/create",
                json!({"amount": 10, "shop_id": "AAAAAAAAAAAAAAAA"}),
            )
            .await;
        r.field_error("shop_id");
    }
);

engine_test!(
    async fn create_without_amount_is_400(engine) {
        let (_app, shop) = setup(engine).await;
        for body in [
            json!({"shop_id": shop.shop_id}),
            json!({"shop_id": shop.shop_id, "amount": ""}),
            json!({"shop_id": shop.shop_id, "amount": null}),
        ] {
            shop.post("/v2/invoice/create", body)
                .await
                .assert_field_error("amount", "amount not passed.");
        }
        shop.post_form("/v1/invoice/create", &format!("shop_id={}", shop.shop_id))
            .await
            .assert_field_error("amount", "amount not passed.");
    }
);

engine_test!(
    async fn create_with_a_bad_amount_is_400(engine) {
        let (_app, shop) = setup(engine).await;
        let invalid = "Invalid value amount.";
        let not_positive = "Invalid value amount: must be above zero.";
        let cents = "Invalid value amount: USD amounts have at most 2 decimal places.";
        let too_large = "Invalid value amount: at most 9999999999999.99 USD.";
        for (amount, message) in [
            (json!("abc"), invalid),
            (json!(0), not_positive),
            (json!("0"), not_positive),
            (json!(-5), not_positive),
            (json!("-5"), not_positive),
            (json!("0.001"), cents),
            (json!("1,5"), invalid),
            (json!("NaN"), invalid),
            (json!(true), invalid),
            (json!("1e400"), invalid),
            (json!("99999999999999999999999999999999"), too_large),
            (json!("79228162514264337593543950335"), too_large),
            (json!([1]), "amount not passed."),
            (json!({"v": 1}), "amount not passed."),
        ] {
            let r = shop
                .post(
                    "/v2/invoice/create",
                    json!({"shop_id": shop.shop_id, "amount": amount}),
                )
                .await;
            // An array or object amount counts as not passed; every other bad value is
            // invalid, with the reason when there is one.
            r.assert_field_error("amount", message);
        }
        // Absurdly large prices are refused whatever the currency, never a 500.
        for (currency, max) in [("USD", "9999999999999.99"), ("EUR", "9999999999999.99"), ("JPY", "999999999999999")] {
            shop.post(
                "/v2/invoice/create",
                json!({"shop_id": shop.shop_id, "amount": "70000000000000000000000000000", "currency": currency}),
            )
            .await
            .assert_field_error("amount", &format!("Invalid value amount: at most {max} {currency}."));
        }
    }
);

engine_test!(
    async fn create_with_a_bad_currency_is_400_listing_the_25_codes(engine) {
        let (_app, shop) = setup(engine).await;
        for currency in ["XYZ", "BTC", "usd ", "US"] {
            let r = shop
                .post(
                    "/v2/invoice/create",
                    json!({"shop_id": shop.shop_id, "amount": 10, "currency": currency}),
                )
                .await;
            if currency == "usd " {
                // Codes are read leniently (trimmed, any case).
                assert_eq!(r.status, StatusCode::OK, "{r:?}");
                continue;
            }
            let msg = r.field_error("currency");
            assert!(
                msg.starts_with("Invalid account currency specified. Available currencies"),
                "{msg}"
            );
            for code in FIATS {
                assert!(msg.contains(code), "{code} missing from {msg}");
            }
        }
        // Every one of the 25 is accepted.
        for code in FIATS {
            let r = shop
                .create(1000.0, json!({"currency": code}))
                .await;
            assert_eq!(r["fiat_currency"], code);
        }
    }
);

engine_test!(
    async fn create_with_time_to_pay_out_of_range_is_400(engine) {
        let (_app, shop) = setup(engine).await;
        for ttp in [
            json!({"hours": 0, "minutes": 0}),
            json!({"hours": 744, "minutes": 1}),
            json!({"hours": 745}),
            json!({"hours": -1}),
            json!({"minutes": "abc"}),
            json!({"hours": "99999999999999999999"}),
            json!({"hours": 5_124_095_576_030_431u64}),
        ] {
            let r = shop
                .post(
                    "/v2/invoice/create",
                    json!({"shop_id": shop.shop_id, "amount": 10, "add_fields": {"time_to_pay": ttp}}),
                )
                .await;
            r.field_error("time_to_pay");
        }
        // The bounds themselves are accepted: 1 minute and 31 days.
        let r = shop
            .create(10.0, json!({"add_fields": {"time_to_pay": {"minutes": 1}}}))
            .await;
        assert_eq!(r["expiry_date"], "2025-03-10 12:01:00.123456");
        let r = shop
            .create(10.0, json!({"add_fields": {"time_to_pay": {"hours": 744}}}))
            .await;
        assert_eq!(r["expiry_date"], "2025-04-10 12:00:00.123456");
        let r = shop
            .create(
                10.0,
                json!({"add_fields": {"time_to_pay": {"hours": 2, "minutes": 30}}}),
            )
            .await;
        assert_eq!(r["expiry_date"], "2025-03-10 14:30:00.123456");
    }
);

engine_test!(
    async fn cancel_of_an_invoice_that_is_not_created_is_400(engine) {
        let (_app, shop) = setup(engine).await;
        let inv = shop.create(10.0, json!({})).await;
        shop.post("/v2/invoice/merchant/canceled", json!({"uuid": inv["uuid"]}))
            .await
            .success();
        shop.post("/v2/invoice/merchant/canceled", json!({"uuid": inv["uuid"]}))
            .await
            .assert_field_error("validate_error", "Invoice is not created");
        let paid = shop.create(10.0, json!({})).await;
        shop.pay_ok(
            &uuid_of(&paid),
            json!({"amount": "10", "currency": "USDT_TRC20"}),
        )
        .await;
        shop.post("/v2/invoice/merchant/canceled", json!({"uuid": paid["uuid"]}))
            .await
            .assert_field_error("validate_error", "Invoice is not created");
        assert_eq!(shop.invoice(&uuid_of(&paid)).await["status"], "paid");
    }
);

engine_test!(
    async fn cancel_without_uuid_is_400(engine) {
        let (_app, shop) = setup(engine).await;
        for body in [json!({}), json!({"uuid": ""}), json!({"uuid": null}), json!({"uuid": "INV-"})] {
            shop.post("/v2/invoice/merchant/canceled", body)
                .await
                .assert_field_error("validate_error", "uuid is required");
        }
        shop.post_form("/v2/invoice/merchant/canceled", "")
            .await
            .assert_field_error("validate_error", "uuid is required");
    }
);

engine_test!(
    async fn info_with_more_than_100_uuids_is_400(engine) {
        let (_app, shop) = setup(engine).await;
        let many: Vec<String> = (0..101).map(|i| format!("INV-A{i:07}")).collect();
        shop.post("/v2/invoice/merchant/info", json!({"uuids": many}))
            .await
            .assert_field_error("validate_error", "Max 100 uuids");
        // 100 is fine (none of them exists).
        let r = shop
            .post("/v2/invoice/merchant/info", json!({"uuids": &many[..100]}))
            .await
            .success();
        assert_eq!(r, json!([]));
    }
);

engine_test!(
    async fn list_and_statistics_with_bad_dates_are_400_keyed_by_field(engine) {
        let (_app, shop) = setup(engine).await;
        for path in [
            "/v2/invoice/merchant/list",
            "/v2/invoice/merchant/statistics",
            "/v2/merchant/statistics",
        ] {
            shop.post(path, json!({"end": T0_DAY}))
                .await
                .assert_field_error("start", "start not passed.");
            shop.post(path, json!({"start": T0_DAY}))
                .await
                .assert_field_error("end", "end not passed.");
            for bad in [
                "2025-03-10",
                "10/03/2025",
                "1.3.2025",
                "32.01.2025",
                "29.02.2025",
                "10.13.2025",
                "aa.bb.cccc",
                "10.03.2025.1",
                "10.03.25",
                "+1.03.2025",
                "10.+3.2025",
                " 10.03.2025x",
            ] {
                shop.post(path, json!({"start": bad, "end": T0_DAY}))
                    .await
                    .field_error("start");
                shop.post(path, json!({"start": T0_DAY, "end": bad}))
                    .await
                    .field_error("end");
            }
            // The end may not come before the start.
            shop.post(path, json!({"start": T0_DAY, "end": "09.03.2025"}))
                .await
                .field_error("end");
        }
    }
);

engine_test!(
    async fn list_with_bad_paging_or_filters_is_400(engine) {
        let (_app, shop) = setup(engine).await;
        let with = |k: &str, v: Value| {
            let mut b = day_range();
            b[k] = v;
            b
        };
        for (k, v) in [
            ("limit", json!(0)),
            ("limit", json!(101)),
            ("limit", json!("x")),
            ("offset", json!(-1)),
            ("offset", json!("x")),
            ("status", json!("paidd")),
            ("currency", json!("DOGE")),
        ] {
            shop.post("/v2/invoice/merchant/list", with(k, v.clone()))
                .await
                .field_error(k);
        }
    }
);

engine_test!(
    async fn retired_currency_codes_are_rejected(engine) {
        let (_app, shop) = setup(engine).await;
        let inv = shop.create(10.0, json!({})).await;
        for code in ["USDC_TRC20", "TUSD_TRC20", "TUSD_ERC20", "TUSD_BSC"] {
            shop.post(
                "/v2/invoice/create",
                json!({"shop_id": shop.shop_id, "amount": 10, "add_fields": {"cryptocurrency": code}}),
            )
            .await
            .field_error("cryptocurrency");
            shop.post(
                "/v2/invoice/create",
                json!({"shop_id": shop.shop_id, "amount": 10, "add_fields": {"available_currencies": ["BTC", code]}}),
            )
            .await
            .field_error("available_currencies");
            shop.post(
                "/v2/invoice/static/create",
                json!({"shop_id": shop.shop_id, "currency": code, "identify": "c"}),
            )
            .await
            .field_error("currency");
            let mut b = day_range();
            b["currency"] = json!(code);
            shop.post("/v2/invoice/merchant/list", b)
                .await
                .field_error("currency");
            shop.pay(&uuid_of(&inv), json!({"amount": "1", "currency": code}))
                .await
                .assert_helper_error(StatusCode::BAD_REQUEST, "unknown_currency");
        }
        // Unknown codes too.
        shop.post(
            "/v2/invoice/create",
            json!({"shop_id": shop.shop_id, "amount": 10, "add_fields": {"cryptocurrency": "DOGE"}}),
        )
        .await
        .field_error("cryptocurrency");
        // Nothing was created by the refused requests.
        let (_, all) = list(&shop, day_range()).await;
        assert_eq!(all, 1);
    }
);

engine_test!(
    async fn unknown_paths_are_404(engine) {
        let (app, shop) = setup(engine).await;
        for path in [
            "/v2/invoice/unknown",
            "/v2/invoice/merchant/nothing",
            "/v2/nothing",
            "/v1/invoice/nothing",
        ] {
            let r = shop.post(path, json!({})).await;
            assert_eq!(r.status, StatusCode::NOT_FOUND, "POST {path}");
            let r = app
                .client
                .post(format!("{}{path}", app.base))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::NOT_FOUND, "POST {path} without a key");
        }
    }
);

engine_test!(
    async fn test_helper_refuses_live_invoices(engine) {
        let (app, shop) = setup(engine).await;
        shop.go_live(&app).await;
        let project = shop.row(&app).await;
        assert!(!project.test_mode);
        // Live invoices cannot be made through the API yet (no live network), so through
        // the service.
        let usd = currency::fiat("USD").unwrap();
        let row = service::create(
            &app.state,
            &project,
            NewInvoiceRequest {
                price: Price::Fiat(usd, Decimal::from(10)),
                order_id: "live".into(),
                email: String::new(),
                description: String::new(),
                lifetime: None,
                allowed: Vec::new(),
                preselect: None,
                locale: Some(Lang::En),
                send_link_to: None,
                remind_every: None,
            },
        )
        .await
        .expect("live invoice");
        assert!(!row.test);
        for id in [format!("INV-{}", row.uuid), row.uuid.clone()] {
            let r = shop
                .pay(&id, json!({"amount": "10", "currency": "USDT_TRC20"}))
                .await;
            r.assert_helper_error(StatusCode::BAD_REQUEST, "live_invoice");
        }
        let stored = stored_invoice(&app, &row.uuid).await;
        assert_eq!(stored.status.as_str(), "created");
        assert!(stored.currency.is_none(), "nothing was chosen");
    }
);

engine_test!(
    async fn test_helper_errors(engine) {
        let (app, shop) = setup(engine).await;
        let other = shop_of(&app, shop.owner, "").await;
        let foreign = other.create(10.0, json!({})).await;
        shop.pay(&uuid_of(&foreign), json!({"amount": "1", "currency": "BTC"}))
            .await
            .assert_helper_error(StatusCode::NOT_FOUND, "not_found");
        shop.pay("INV-ZZZZZZZZ", json!({"amount": "1"}))
            .await
            .assert_helper_error(StatusCode::NOT_FOUND, "not_found");
        let inv = shop
            .create(10.0, json!({"add_fields": {"cryptocurrency": "USDT_TRC20"}}))
            .await;
        let id = uuid_of(&inv);
        shop.pay(&id, json!({}))
            .await
            .assert_helper_error(StatusCode::BAD_REQUEST, "amount_required");
        for bad in [json!("abc"), json!("0"), json!("-1"), json!("1.1234567")] {
            shop.pay(&id, json!({"amount": bad}))
                .await
                .assert_helper_error(StatusCode::BAD_REQUEST, "invalid_amount");
        }
        assert_eq!(shop.invoice(&id).await["tx_list"], json!([]));
        // An absurd amount that still fits the coin's units is recorded, never a 500.
        let o = shop
            .pay_ok(&id, json!({"amount": "300000000000000000000000000000000"}))
            .await;
        assert_eq!(o["status"], "overpaid");
        assert_shape(&o, &invoice_shape());
        // One that does not fit is refused.
        shop.pay(&id, json!({"amount": "400000000000000000000000000000000"}))
            .await
            .assert_helper_error(StatusCode::BAD_REQUEST, "invalid_amount");
    }
);

// =============================================================================================
// 3. Lenient input
// =============================================================================================

engine_test!(
    async fn create_accepts_php_style_form_bodies(engine) {
        let (_app, shop) = setup(engine).await;
        let form = format!(
            "shop_id={}&amount=100.50&currency=EUR&order_id=42&email=&add_fields%5Btime_to_pay%5D%5Bhours%5D=1\
             &add_fields[time_to_pay][minutes]=30&add_fields[available_currencies][]=LTC\
             &add_fields[available_currencies][]=BTC&unknown[deep][]=x",
            shop.shop_id
        );
        let r = shop.post_form("/v2/invoice/create", &form).await.success();
        assert_shape(&r, &created_shape());
        assert_eq!(r["fiat_currency"], "EUR");
        assert_eq!(r["amount_in_fiat"], json!(100.5));
        // 100.50 EUR at the test rate of 1.08 USD.
        assert_amount("amount_usd", &r["amount_usd"], 108.54);
        assert_eq!(r["expiry_date"], "2025-03-10 13:30:00.123456");
        // Only BTC and LTC are allowed: the first of them in catalogue order is shown.
        assert_eq!(r["currency"]["fullcode"], "BTC");
        let o = shop.invoice(&uuid_of(&r)).await;
        assert_eq!(o["order_id"], "42");
        assert_eq!(o["user_email"], Value::Null);
        // The payer may only choose among them.
        shop.pay(&uuid_of(&r), json!({"amount": "1", "currency": "USDT_TRC20"}))
            .await
            .assert_helper_error(StatusCode::BAD_REQUEST, "currency_unavailable");
        shop.pay_ok(&uuid_of(&r), json!({"amount": "1", "currency": "LTC"}))
            .await;

        // A preselected currency through a form.
        let form = format!(
            "shop_id={}&amount=10&add_fields[cryptocurrency]=LTC",
            shop.shop_id
        );
        let r = shop.post_form("/v2/invoice/create", &form).await.success();
        assert_eq!(r["currency"]["fullcode"], "LTC");
        assert_address("LTC", &r["address"]);

        // The other endpoints read forms too.
        let r2 = shop.create(5.0, json!({})).await;
        let form = format!("uuids[]={}&uuids[]={}", uuid_of(&r), bare(&uuid_of(&r2)));
        let got = shop
            .post_form("/v2/invoice/merchant/info", &form)
            .await
            .success();
        assert_eq!(
            got.as_array().unwrap().iter().map(uuid_of).collect::<Vec<_>>(),
            [uuid_of(&r), uuid_of(&r2)]
        );
        let got = shop
            .post_form(
                "/v2/invoice/merchant/list",
                &format!("start={T0_DAY}&end={T0_DAY}&limit=2&offset=0"),
            )
            .await;
        assert_eq!(got.body["all_count"], 3);
        assert_eq!(got.body["result"].as_array().unwrap().len(), 2);
        let got = shop
            .post_form(
                "/v2/invoice/merchant/statistics",
                &format!("start={T0_DAY}&end={T0_DAY}"),
            )
            .await
            .success();
        assert_eq!(got["count"]["all"], 3);
        shop.post_form(
            "/v2/invoice/merchant/canceled",
            &format!("uuid={}", uuid_of(&r2)),
        )
        .await
        .success();
        let w = shop
            .post_form(
                "/v2/invoice/static/create",
                &format!("shop_id={}&currency=BTC&identify=77", shop.shop_id),
            )
            .await
            .success();
        assert_address("BTC", &w["address"]);
        let v1 = shop
            .post_form(
                "/v1/invoice/create",
                &format!("shop_id={}&amount=3&currency=USD&order_id=v1", shop.shop_id),
            )
            .await;
        assert_eq!(v1.status, StatusCode::OK, "{v1:?}");
        assert_eq!(v1.body["currency"], "USD");
    }
);

engine_test!(
    async fn create_accepts_lenient_json(engine) {
        let (_app, shop) = setup(engine).await;
        let r = shop
            .post(
                "/v2/invoice/create",
                json!({
                    "shop_id": shop.shop_id, "amount": "100.50", "currency": "",
                    "order_id": 12345, "email": "", "add_fields": [],
                    "unknown": {"nested": [1, 2]}, "lang": "xx",
                }),
            )
            .await
            .success();
        assert_shape(&r, &created_shape());
        assert_eq!(r["fiat_currency"], "USD", "currency \"\" means USD");
        assert_eq!(r["amount_in_fiat"], json!(100.5));
        let o = shop.invoice(&uuid_of(&r)).await;
        assert_eq!(o["order_id"], "12345", "an integer order_id is echoed as a string");
        assert_eq!(o["user_email"], Value::Null);

        let r = shop
            .post(
                "/v2/invoice/create",
                json!({"shop_id": shop.shop_id, "amount": 7, "order_id": "", "add_fields": {}}),
            )
            .await
            .success();
        assert_eq!(r["amount"], json!(7.0));
        assert_eq!(shop.invoice(&uuid_of(&r)).await["order_id"], "");

        // `add_fields` given as null, a string, or with an empty PHP array inside.
        for add in [
            json!(null),
            json!(""),
            json!({"time_to_pay": [], "available_currencies": [], "cryptocurrency": ""}),
        ] {
            let r = shop
                .post(
                    "/v2/invoice/create",
                    json!({"shop_id": shop.shop_id, "amount": 1.5, "add_fields": add}),
                )
                .await
                .success();
            assert_eq!(r["address"], "", "{add}");
            assert_eq!(r["expiry_date"], "2025-03-11 12:00:00.123456", "{add}");
        }
        // JSON sent with a form content type is read as JSON.
        let r = shop
            .post_form(
                "/v2/invoice/create",
                &json!({"shop_id": shop.shop_id, "amount": 2}).to_string(),
            )
            .await
            .success();
        assert_eq!(r["amount"], json!(2.0));
    }
);

engine_test!(
    async fn uuids_are_accepted_with_or_without_the_prefix(engine) {
        let (_app, shop) = setup(engine).await;
        let a = shop.create(10.0, json!({})).await;
        let b = shop.create(11.0, json!({})).await;
        let (ua, ub) = (uuid_of(&a), uuid_of(&b));
        // info
        for q in [ua.clone(), bare(&ua).to_owned()] {
            assert_eq!(shop.invoice(&q).await["uuid"], a["uuid"]);
        }
        // v1 info
        for q in [ua.clone(), bare(&ua).to_owned()] {
            let r = shop.get(&format!("/v1/invoice/info?uuid={q}")).await;
            assert_eq!(r.body["status_invoice"], "created", "{q}");
        }
        // test helper
        shop.pay_ok(
            bare(&ua),
            json!({"amount": "1", "currency": "USDT_TRC20", "confirmed": false}),
        )
        .await;
        shop.pay_ok(&ua, json!({"amount": "1", "confirmed": false}))
            .await;
        assert_eq!(
            shop.invoice(&ua).await["tx_list"].as_array().unwrap().len(),
            2
        );
        // cancel
        shop.post(
            "/v2/invoice/merchant/canceled",
            json!({"uuid": bare(&ub)}),
        )
        .await
        .success();
        assert_eq!(shop.invoice(&ub).await["status"], "canceled");
        let c = shop.create(12.0, json!({})).await;
        shop.post(
            "/v2/invoice/merchant/canceled",
            json!({"uuid": c["uuid"]}),
        )
        .await
        .success();
        assert_eq!(shop.invoice(&uuid_of(&c)).await["status"], "canceled");
    }
);

engine_test!(
    async fn locale_query_sets_the_payment_page_language(engine) {
        let (app, shop) = setup(engine).await;
        let russian = shop_with_settings(&app, "ru@shop.example", |s| {
            s.page_language = kassa_core::lang::Lang::Ru;
        })
        .await;
        // No locale: none is stored, and the page follows the payer's browser, then the
        // project's default language.
        for (query, default_en, default_ru) in [
            ("", "", ""),
            ("?locale=", "", ""),
            ("?locale=ru", "ru", "ru"),
            ("?locale=en", "en", "en"),
            // Unknown (or not translated) locales fall back to English.
            ("?locale=de", "en", "en"),
            ("?locale=ch", "en", "en"),
            ("?locale=xx", "en", "en"),
        ] {
            for (s, expected) in [(&shop, default_en), (&russian, default_ru)] {
                let r = s
                    .post(
                        &format!("/v2/invoice/create{query}"),
                        json!({"shop_id": s.shop_id, "amount": 1}),
                    )
                    .await
                    .success();
                let row = stored_invoice(&app, &uuid_of(&r)).await;
                assert_eq!(row.locale.map_or("", |l| l.code()), expected, "{query}");
            }
        }
        let r = russian
            .post("/v2/invoice/create", json!({"shop_id": russian.shop_id, "amount": 1}))
            .await
            .success();
        let page = app.get(&format!("/pay/{}", uuid_of(&r).trim_start_matches("INV-"))).await;
        assert!(page.text().await.unwrap().contains("<html lang=\"ru\">"), "the project's default language");
    }
);

engine_test!(
    async fn project_settings_show_in_the_objects(engine) {
        let app = TestApp::spawn(engine).await;
        app.clock.set(T0);
        let shop = shop_with_settings(&app, "o@shop.example", |s| {
            s.success_url = "https://shop.example/ok".into();
            s.fail_url = "https://shop.example/fail".into();
            s.currencies = vec!["LTC".into(), "BTC".into()];
            s.service_fee_side = kassa_core::invoice::Side::Client;
        })
        .await;
        let r = shop.create(100.0, json!({})).await;
        assert_shape(&r, &created_shape());
        assert_eq!(
            r["project"],
            json!({"id": shop.id.get(), "name": "Shop", "fail": "https://shop.example/fail", "success": "https://shop.example/ok", "logo": null})
        );
        // USDT_TRC20 is not accepted: the first accepted currency in catalogue order is shown.
        assert_eq!(r["currency"]["fullcode"], "BTC");
        assert_eq!(r["side_commission"], "merchant");
        assert_eq!(r["side_commission_cc"], "client");
        assert_eq!(r["side_commission_service"], "client");
        shop.post(
            "/v2/invoice/create",
            json!({"shop_id": shop.shop_id, "amount": 1, "add_fields": {"cryptocurrency": "USDT_TRC20"}}),
        )
        .await
        .field_error("cryptocurrency");
        // The payer carries the service fee: 100 USD of LTC at 100 USD, plus 1.9 %.
        let r = shop
            .create(100.0, json!({"add_fields": {"cryptocurrency": "LTC"}}))
            .await;
        assert_amount("amount", &r["amount"], 1.019);
        assert_amount("service_fee", &r["service_fee"], 0.019);
        let o = shop.invoice(&uuid_of(&r)).await;
        assert_eq!(o["project"]["success"], "https://shop.example/ok");
        assert_amount("amount_to_pay", &o["amount_to_pay"], 1.019);
    }
);

// =============================================================================================
// 4. Behaviour
// =============================================================================================

engine_test!(
    async fn list_is_newest_first_with_paging_filters_and_count(engine) {
        let (app, shop) = setup(engine).await;
        let mut ids = Vec::new();
        for i in 0..12 {
            let r = shop
                .create(10.0 + f64::from(i), json!({"order_id": format!("o{i}")}))
                .await;
            ids.push(uuid_of(&r));
            app.clock.advance(Duration::from_secs(1));
        }
        let o = |r: std::ops::RangeInclusive<usize>| -> Vec<String> {
            r.rev().map(|i| format!("o{i}")).collect()
        };
        // Default limit 10, newest first.
        let (items, all) = list(&shop, day_range()).await;
        assert_eq!(all, 12);
        assert_eq!(order_ids(&items), o(2..=11));
        for it in &items {
            assert_shape(it, &invoice_shape());
        }
        let mut b = day_range();
        b["offset"] = json!(10);
        let (items, all) = list(&shop, b).await;
        assert_eq!((order_ids(&items), all), (o(0..=1), json!(12)));
        let mut b = day_range();
        b["offset"] = json!("2");
        b["limit"] = json!("3");
        let (items, _) = list(&shop, b).await;
        assert_eq!(order_ids(&items), o(7..=9));
        let mut b = day_range();
        b["offset"] = json!(50);
        let (items, all) = list(&shop, b).await;
        assert_eq!((items.len(), all), (0, json!(12)));

        // Filters: a paid USDT_TRC20 invoice, a BTC one waiting, a canceled one.
        shop.pay_ok(&ids[0], json!({"amount": "10", "currency": "USDT_TRC20"}))
            .await;
        let btc = shop
            .create(
                5.0,
                json!({"order_id": "btc", "add_fields": {"cryptocurrency": "BTC"}}),
            )
            .await;
        assert_eq!(btc["status"], "created");
        shop.post(
            "/v2/invoice/merchant/canceled",
            json!({"uuid": ids[1]}),
        )
        .await
        .success();
        let filtered = |extra: Value| {
            let mut b = day_range();
            for (k, v) in extra.as_object().unwrap() {
                b[k] = v.clone();
            }
            b
        };
        for (f, expected) in [
            (json!({"status": "paid"}), vec!["o0"]),
            (json!({"status": "canceled"}), vec!["o1"]),
            (json!({"status": "partial"}), vec![]),
            (json!({"currency": "BTC"}), vec!["btc"]),
            (json!({"currency": "USDT_TRC20"}), vec!["o0"]),
            (json!({"status": "created", "currency": "BTC"}), vec!["btc"]),
            (json!({"status": "paid", "currency": "BTC"}), vec![]),
        ] {
            let (items, all) = list(&shop, filtered(f.clone())).await;
            assert_eq!(order_ids(&items), expected, "{f}");
            assert_eq!(all, json!(expected.len()), "all_count with {f}");
        }
        let (_, all) = list(&shop, filtered(json!({"status": "created"}))).await;
        assert_eq!(all, 11, "10 unpaid of the first 12, and the BTC one");
    }
);

engine_test!(
    async fn list_limit_is_at_most_100(engine) {
        let (app, shop) = setup(engine).await;
        for i in 0..101 {
            shop.create(1.0, json!({"order_id": format!("{i}")})).await;
            app.clock.advance(Duration::from_millis(10));
        }
        let mut b = day_range();
        b["limit"] = json!(100);
        let (items, all) = list(&shop, b).await;
        assert_eq!(all, 101);
        assert_eq!(items.len(), 100);
        assert_eq!(items[0]["order_id"], "100");
        assert_eq!(items[99]["order_id"], "1");
        let mut b = day_range();
        b["limit"] = json!(101);
        shop.post("/v2/invoice/merchant/list", b)
            .await
            .field_error("limit");
    }
);

engine_test!(
    async fn list_and_statistics_take_whole_utc_days(engine) {
        let (app, shop) = setup(engine).await;
        // 2025-03-08 00:00:00 UTC plus an offset in microseconds.
        let at = |micros: i64| Timestamp::from_micros(1_741_392_000_000_000 + micros);
        let (hour, day) = (3_600_000_000i64, 86_400_000_000i64);
        for (when, order) in [
            (at(9 * hour), "08th"),
            (at(2 * day), "10th-first"),
            (at(3 * day - 1), "10th-last"),
            (at(3 * day), "11th"),
        ] {
            app.clock.set(when);
            shop.create(1.0, json!({"order_id": order})).await;
        }
        for (start, end, expected) in [
            ("10.03.2025", "10.03.2025", vec!["10th-last", "10th-first"]),
            ("08.03.2025", "08.03.2025", vec!["08th"]),
            ("09.03.2025", "09.03.2025", vec![]),
            ("11.03.2025", "11.03.2025", vec!["11th"]),
            (
                "08.03.2025",
                "11.03.2025",
                vec!["11th", "10th-last", "10th-first", "08th"],
            ),
        ] {
            let (items, all) = list(&shop, json!({"start": start, "end": end})).await;
            assert_eq!(order_ids(&items), expected, "{start}–{end}");
            assert_eq!(all, json!(expected.len()));
            let s = shop
                .post(
                    "/v2/invoice/merchant/statistics",
                    json!({"start": start, "end": end}),
                )
                .await
                .success();
            assert_eq!(s["count"]["all"], json!(expected.len()), "{start}–{end}");
        }
    }
);

engine_test!(
    async fn info_keeps_the_order_asked_and_leaves_out_unknown_and_foreign_ids(engine) {
        let (app, shop) = setup(engine).await;
        let sibling = shop_of(&app, shop.owner, "").await;
        let stranger = crate::support::api::shop(&app, "x@other.example", "").await;
        let a = uuid_of(&shop.create(1.0, json!({})).await);
        let b = uuid_of(&shop.create(2.0, json!({})).await);
        let c = uuid_of(&shop.create(3.0, json!({})).await);
        let y = uuid_of(&sibling.create(4.0, json!({})).await);
        let x = uuid_of(&stranger.create(5.0, json!({})).await);
        let asked = [
            c.as_str(),
            "INV-ZZZZZZZZ",
            bare(&a),
            x.as_str(),
            y.as_str(),
            "",
            b.as_str(),
        ];
        let got = shop.info(&asked).await;
        assert_eq!(got.iter().map(uuid_of).collect::<Vec<_>>(), [c.as_str(), a.as_str(), b.as_str()]);
        for o in &got {
            assert_shape(o, &invoice_shape());
        }
        // Each project sees its own.
        assert_eq!(
            sibling.info(&asked).await.iter().map(uuid_of).collect::<Vec<_>>(),
            [y.as_str()]
        );
        assert_eq!(
            stranger.info(&asked).await.iter().map(uuid_of).collect::<Vec<_>>(),
            [x.as_str()]
        );
        // uuids missing entirely.
        shop.post("/v2/invoice/merchant/info", json!({}))
            .await
            .field_error("validate_error");
    }
);

engine_test!(
    async fn statistics_count_and_sum_by_status(engine) {
        let (app, shop) = setup(engine).await;
        let usdt = json!({"add_fields": {"cryptocurrency": "USDT_TRC20"}});
        shop.create(10.0, json!({})).await;
        shop.create(20.0, usdt.clone()).await;
        let paid = uuid_of(&shop.create(30.0, usdt.clone()).await);
        shop.pay_ok(&paid, json!({"amount": "30"})).await;
        let canceled = shop.create(40.0, json!({})).await;
        shop.post(
            "/v2/invoice/merchant/canceled",
            json!({"uuid": canceled["uuid"]}),
        )
        .await
        .success();
        let partial = uuid_of(&shop.create(50.0, usdt.clone()).await);
        shop.pay_ok(&partial, json!({"amount": "20"})).await;
        let over = uuid_of(&shop.create(60.0, usdt.clone()).await);
        shop.pay_ok(&over, json!({"amount": "61.5"})).await;
        // Other days and other projects do not count.
        let other = shop_of(&app, shop.owner, "").await;
        other.create(500.0, json!({})).await;
        app.clock.set(Timestamp::from_micros(T0.as_micros() - 2 * 86_400_000_000));
        shop.create(1000.0, json!({})).await;

        let expected = json!({
            "count": {"all": 6, "created": 2, "paid": 1, "overpaid": 1, "partial": 1, "canceled": 1},
            "amount": {"all": 210.0, "created": 30.0, "paid": 30.0, "overpaid": 60.0, "partial": 50.0, "canceled": 40.0},
        });
        for path in [
            "/v2/invoice/merchant/statistics",
            "/v2/merchant/statistics",
        ] {
            let r = shop.post(path, day_range()).await.success();
            assert_shape(&r, &statistics_shape());
            assert_eq!(r, expected, "{path}");
        }
        let r = shop
            .post(
                "/v2/invoice/merchant/statistics",
                json!({"start": "01.01.2025", "end": "31.12.2025"}),
            )
            .await
            .success();
        assert_eq!(r["count"]["all"], 7);
        assert_eq!(r["amount"]["all"], json!(1210.0));
    }
);

engine_test!(
    async fn static_wallet_is_stable_and_its_payments_post_back_the_identify(engine) {
        let app = TestApp::spawn(engine).await;
        app.clock.set(T0);
        let sink = Receiver::start().await;
        let shop = crate::support::api::shop(&app, "o@shop.example", &sink.url).await;
        let wallet = |currency: &'static str, identify: &'static str| {
            let shop = &shop;
            async move {
                shop.post(
                    "/v2/invoice/static/create",
                    json!({"shop_id": shop.shop_id, "currency": currency, "identify": identify}),
                )
                .await
                .success()
            }
        };
        let w1 = wallet("USDT_TRC20", "cust-1").await;
        let again = wallet("USDT_TRC20", "cust-1").await;
        assert_eq!(again, w1, "same (project, currency, identify), same wallet");
        let w2 = wallet("USDT_TRC20", "cust-2").await;
        let w3 = wallet("BTC", "cust-1").await;
        let other = shop_of(&app, shop.owner, "").await;
        let w4 = other
            .post(
                "/v2/invoice/static/create",
                json!({"shop_id": other.shop_id, "currency": "USDT_TRC20", "identify": "cust-1"}),
            )
            .await
            .success();
        let uuids: Vec<&Value> = [&w1, &w2, &w3, &w4].iter().map(|w| &w["uuid"]).collect();
        let addresses: Vec<&Value> = [&w1, &w2, &w3, &w4].iter().map(|w| &w["address"]).collect();
        for i in 0..4 {
            for j in 0..i {
                assert_ne!(uuids[i], uuids[j], "wallets {i} and {j}");
                assert_ne!(addresses[i], addresses[j], "wallets {i} and {j}");
            }
        }
        // Required fields.
        shop.post(
            "/v2/invoice/static/create",
            json!({"shop_id": shop.shop_id, "currency": "BTC"}),
        )
        .await
        .assert_field_error("identify", "identify not passed.");
        shop.post(
            "/v2/invoice/static/create",
            json!({"shop_id": shop.shop_id, "identify": "x"}),
        )
        .await
        .assert_field_error("currency", "currency not passed.");

        // A payment to the address, reported as a watcher would.
        let usdt = currency::crypto("USDT_TRC20").unwrap();
        let address = w1["address"].as_str().unwrap();
        let report = TransferReport {
            network: usdt.network,
            txid: "ab".repeat(32).leak(),
            index: 0,
            address,
            amount: Amount::parse("25", usdt.decimals).unwrap(),
            currency: usdt,
            confirmed: true,
            confirmations: 20,
            test: true,
        };
        let recorded = payments::record_transfer(&app.state, &report)
            .await
            .expect("record transfer");
        let payments::Recorded::Invoice(_) = recorded else {
            panic!("not recorded for an invoice: {recorded:?}");
        };
        let mut c = app.state.db.conn().await.unwrap();
        let queued = kassa_store::jobs::unfinished_of_kind(&mut c, "postback.send")
            .await
            .unwrap();
        drop(c);
        assert_eq!(queued, 1, "one postback queued");
        app.drain_jobs().await;
        let bodies: Vec<Value> = sink.hits().iter().map(|h| h.json()).collect();
        assert_eq!(bodies.len(), 1, "{bodies:?}");
        let p = &bodies[0];
        assert_eq!(p["status"], "success");
        assert_eq!(p["order_id"], "cust-1", "order_id is the identify value");
        assert_eq!(p["currency"], "USDT_TRC20");
        assert_amount("amount_crypto", &p["amount_crypto"], 25.0);
        assert_amount("amount_usdt", &p["amount_usdt"], 25.0);
        let id = p["invoice_id"].as_str().expect("invoice_id").to_owned();
        assert!(id.len() == 8 && !id.starts_with("INV-"), "{id}");
        let info = &p["invoice_info"];
        assert_eq!(info["order_id"], "cust-1");
        assert_eq!(info["address"], w1["address"]);
        assert_eq!(info["uuid"], format!("INV-{id}"));
        assert_eq!(info["status"], "paid");
        assert_eq!(info["tx_list"], json!(["ab".repeat(32)]));
        // The token is signed with the project's secret and names the invoice.
        let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
        v.validate_exp = false;
        let claims = jsonwebtoken::decode::<Value>(
            p["token"].as_str().expect("token"),
            &jsonwebtoken::DecodingKey::from_secret(shop.secret.as_bytes()),
            &v,
        )
        .expect("valid token")
        .claims;
        assert_eq!(claims["id"], id);
        // The invoice is the project's, visible through the API like any other.
        let o = shop.invoice(&id).await;
        assert_shape(&o, &invoice_shape());
        assert_eq!(o["order_id"], "cust-1");
        // A repeated report changes nothing and sends nothing more.
        assert_eq!(
            payments::record_transfer(&app.state, &report).await.unwrap(),
            payments::Recorded::Duplicate
        );
        app.drain_jobs().await;
        assert_eq!(sink.hits().len(), 1);
    }
);

engine_test!(
    async fn test_helper_partial_then_rest_is_paid(engine) {
        let (_app, shop) = setup(engine).await;
        let inv = shop
            .create(
                100.0,
                json!({"add_fields": {"cryptocurrency": "USDT_TRC20"}}),
            )
            .await;
        let id = uuid_of(&inv);
        let o = shop.pay_ok(&id, json!({"amount": "40"})).await;
        assert_eq!(o["status"], "partial");
        assert_eq!(o["invoice_status"], "partial");
        assert_amount("amount_paid", &o["amount_paid"], 40.0);
        assert_amount("to_surcharge", &o["to_surcharge"], 60.0);
        assert_amount("to_surcharge_usd", &o["to_surcharge_usd"], 60.0);
        assert_eq!(o["date_finished"], Value::Null);
        assert_eq!(shop.invoice(&id).await, o, "info shows what the helper answered");
        let o = shop.pay_ok(&id, json!({"amount": 60})).await;
        assert_eq!(o["status"], "paid");
        assert_eq!(o["invoice_status"], "success");
        assert_amount("amount_paid", &o["amount_paid"], 100.0);
        assert_amount("to_surcharge", &o["to_surcharge"], 0.0);
        assert_amount("received", &o["received"], 96.7);
        assert_eq!(o["date_finished"], T0_TEXT);
        let txs = o["tx_list"].as_array().unwrap();
        assert_eq!(txs.len(), 2);
        assert_ne!(txs[0], txs[1]);
    }
);

engine_test!(
    async fn test_helper_unconfirmed_payments_leave_the_invoice_created(engine) {
        let (_app, shop) = setup(engine).await;
        let inv = shop
            .create(100.0, json!({"add_fields": {"cryptocurrency": "USDT_TRC20"}}))
            .await;
        let id = uuid_of(&inv);
        for flag in [json!(false), json!("false"), json!("0")] {
            let o = shop
                .pay_ok(&id, json!({"amount": "100", "confirmed": flag}))
                .await;
            assert_eq!(o["status"], "created", "confirmed: {flag}");
            assert_eq!(o["invoice_status"], "created", "confirmed: {flag}");
            assert_amount("amount_paid", &o["amount_paid"], 0.0);
        }
        assert_eq!(
            shop.invoice(&id).await["tx_list"].as_array().unwrap().len(),
            3
        );
        // A payment seen but unconfirmed blocks cancelling.
        shop.post("/v2/invoice/merchant/canceled", json!({"uuid": id}))
            .await
            .assert_field_error("validate_error", "Invoice is not created");
        // Anything else counts as confirmed.
        let other = uuid_of(
            &shop
                .create(10.0, json!({"add_fields": {"cryptocurrency": "USDT_TRC20"}}))
                .await,
        );
        let o = shop
            .pay_ok(&other, json!({"amount": "10", "confirmed": "true"}))
            .await;
        assert_eq!(o["status"], "paid");
        let third = uuid_of(
            &shop
                .create(10.0, json!({"add_fields": {"cryptocurrency": "USDT_TRC20"}}))
                .await,
        );
        let o = shop
            .post_form(
                &format!("/api/v1/test-helpers/invoices/{third}/pay"),
                "amount=10&confirmed=1",
            )
            .await
            .success();
        assert_eq!(o["status"], "paid");
    }
);

engine_test!(
    async fn test_helper_needs_a_currency_only_when_none_is_chosen(engine) {
        let (_app, shop) = setup(engine).await;
        let open = uuid_of(&shop.create(97.0, json!({})).await);
        shop.pay(&open, json!({"amount": "0.001"}))
            .await
            .assert_helper_error(StatusCode::BAD_REQUEST, "currency_required");
        let o = shop
            .pay_ok(&open, json!({"amount": "0.001", "currency": "BTC"}))
            .await;
        assert_eq!(o["currency"]["fullcode"], "BTC");
        assert_address("BTC", &o["address"]);
        // 97 USD at 97000 plus nothing: exactly what was paid.
        assert_eq!(o["status"], "paid");
        // Preselected: no currency needed, and another one is ignored.
        let pre = uuid_of(
            &shop
                .create(10.0, json!({"add_fields": {"cryptocurrency": "LTC"}}))
                .await,
        );
        // 10 USD at 100 USD per LTC: 0.1 due.
        let o = shop.pay_ok(&pre, json!({"amount": "0.05"})).await;
        assert_eq!(o["currency"]["fullcode"], "LTC");
        assert_eq!(o["status"], "partial");
        let o = shop
            .pay_ok(&pre, json!({"amount": "0.06", "currency": "BTC"}))
            .await;
        assert_eq!(o["currency"]["fullcode"], "LTC");
        assert_amount("amount_paid", &o["amount_paid"], 0.11);
        assert_eq!(o["status"], "overpaid");
        assert_eq!(o["invoice_status"], "success");
    }
);

// =============================================================================================
// 5. Live mode
// =============================================================================================

engine_test!(
    async fn live_projects_get_clear_400s_while_no_live_network_runs(engine) {
        let (app, shop) = setup(engine).await;
        let before = shop
            .create(10.0, json!({"add_fields": {"cryptocurrency": "USDT_TRC20"}}))
            .await;
        shop.go_live(&app).await;
        // No cryptocurrency can be offered: creating invoices is refused with a clear message.
        for body in [
            json!({"shop_id": shop.shop_id, "amount": 10}),
            json!({"shop_id": shop.shop_id, "amount": 10, "currency": "EUR"}),
        ] {
            let r = shop.post("/v2/invoice/create", body.clone()).await;
            assert!(r.field_error("shop_id").contains("available"), "{body}: {r:?}");
            let r = shop.post("/v1/invoice/create", body.clone()).await;
            assert!(r.field_error("shop_id").contains("available"), "v1 {body}: {r:?}");
        }
        for add in [
            json!({"cryptocurrency": "USDT_TRC20"}),
            json!({"available_currencies": ["BTC"]}),
        ] {
            let r = shop
                .post(
                    "/v2/invoice/create",
                    json!({"shop_id": shop.shop_id, "amount": 10, "add_fields": add}),
                )
                .await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{add}: {r:?}");
            let msg = r.body["result"]
                .as_object()
                .filter(|m| m.len() == 1)
                .and_then(|m| m.values().next())
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            assert!(msg.contains("available"), "{add}: {r:?}");
        }
        let r = shop
            .post(
                "/v2/invoice/static/create",
                json!({"shop_id": shop.shop_id, "currency": "USDT_TRC20", "identify": "c"}),
            )
            .await;
        assert!(r.field_error("currency").contains("available"), "{r:?}");
        // Reading still works; the balance lists no currency.
        let r = shop
            .post("/v2/merchant/wallet/balance/all", json!({}))
            .await
            .success();
        assert_eq!(r, json!([]));
        let (items, all) = list(&shop, day_range()).await;
        assert_eq!(all, 1);
        assert_eq!(items[0]["uuid"], before["uuid"]);
        assert_eq!(items[0]["test_mode"], true, "made in test mode, stays a test invoice");
        shop.post("/v2/invoice/merchant/statistics", day_range())
            .await
            .success();
        // Its earlier test invoice can still be paid through the helper.
        let o = shop
            .pay_ok(&uuid_of(&before), json!({"amount": "10"}))
            .await;
        assert_eq!(o["status"], "paid");
        // An archived live project is refused as archived.
        let client = kassa_service::accounts::Client {
            ip: "127.0.0.1".into(),
            user_agent: "test".into(),
        };
        kassa_service::projects::set_archived(&app.state, &shop.row(&app).await, &kassa_service::audit::Actor::of(Some(shop.owner), &client), true)
            .await
            .unwrap();
        shop.post(
            "/v2/invoice/create",
            json!({"shop_id": shop.shop_id, "amount": 10}),
        )
        .await
        .assert_field_error("shop_id", "The shop is archived.");
    }
);

// =============================================================================================
// The shape checker itself: a deviation names the key.
// =============================================================================================

#[test]
#[should_panic(expected = "$.currency.network.id: expected int, got \"4\"")]
fn shape_checker_names_a_nested_key_of_the_wrong_type() {
    let mut v = json!({"currency": {"network": {"code": "TRC20", "id": 4, "icon": "x", "fullname": "Tron"}}});
    let shape = json!({"currency": {"network": network_shape()}});
    assert_shape(&v, &shape);
    v["currency"]["network"]["id"] = json!("4");
    assert_shape(&v, &shape);
}

#[test]
#[should_panic(expected = "$.project: missing keys [\"logo\"], unexpected keys [\"logo_url\"]")]
fn shape_checker_names_missing_and_unexpected_keys() {
    let v = json!({"project": {"id": 1, "name": "n", "fail": "", "success": "", "logo_url": null}});
    assert_shape(&v, &json!({"project": project_shape()}));
}

#[test]
#[should_panic(expected = "$.amount: expected float, got 100")]
fn shape_checker_tells_integers_from_floats() {
    assert_shape(&json!({"amount": 100}), &json!({"amount": "float"}));
}

#[test]
#[should_panic(expected = "$.tx_list[1]: expected string, got 7")]
fn shape_checker_checks_every_array_item() {
    assert_shape(
        &json!({"tx_list": ["a", 7]}),
        &json!({"tx_list": ["string"]}),
    );
}
