//! Invoices end to end: a merchant signs up and integrates through the CryptoCloud-compatible
//! API, payments are simulated through the same path chain transfers take, and a real HTTP
//! receiver gets the signed postbacks. Also: retries and the attempt log, the SSRF guard,
//! expiry, late and partial payments, tolerance, repeated transfer reports, and the ledger of
//! a live confirmation.

use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use kassa_core::currency;
use kassa_core::invoice::{Confirmation, Status};
use kassa_core::money::Amount;
use kassa_service::payments::{Recorded, TransferReport, record_transfer};
use kassa_service::projects::Created;
use kassa_store::invoices::{self as store, InvoiceRow};
use kassa_store::jobs::JobState;
use kassa_store::ledger::{self, Kind};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::engine_test;
use crate::support::TestApp;
use crate::support::accounts::{PASSWORD, app_with_mail, owner, project_with_settings, sign_in};
use crate::support::api::live_invoice;
use crate::support::receiver::Receiver;
use crate::support::web::Session;

/// `POST path` to the API with the project's key; returns the status and the JSON body.
async fn api(app: &TestApp, key: &str, path: &str, body: Value) -> (StatusCode, Value) {
    let r = app
        .client
        .post(format!("{}{path}", app.base))
        .header("authorization", format!("Token {key}"))
        .json(&body)
        .send()
        .await
        .expect("API request");
    let status = r.status();
    let text = r.text().await.expect("body");
    let value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{path} answered {status} with non-JSON ({e}): {text}"));
    (status, value)
}

/// Creates an invoice through `/v2/invoice/create`; returns `result`.
async fn create_invoice(app: &TestApp, p: &Created, body: Value) -> Value {
    let mut body = body;
    body["shop_id"] = json!(p.shop_id);
    let (status, v) = api(app, &p.api_key, "/v2/invoice/create", body).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    v["result"].clone()
}

/// Pays a test invoice through the test helper.
async fn pay(app: &TestApp, p: &Created, uuid: &str, body: Value) -> Value {
    let (status, v) = api(
        app,
        &p.api_key,
        &format!("/api/v1/test-helpers/invoices/{uuid}/pay"),
        body,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    v["result"].clone()
}

/// The invoice object of `/v2/invoice/merchant/info`.
async fn info(app: &TestApp, p: &Created, uuid: &str) -> Value {
    let (status, v) = api(
        app,
        &p.api_key,
        "/v2/invoice/merchant/info",
        json!({"uuids": [uuid]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    v["result"][0].clone()
}

async fn row(app: &TestApp, uuid: &str) -> InvoiceRow {
    let uuid = uuid.trim_start_matches("INV-");
    store::by_uuid(&mut app.state.db.conn().await.unwrap(), uuid)
        .await
        .unwrap()
        .expect("invoice row")
}

/// What is due on an invoice with a chosen currency, as a decimal string.
async fn due(app: &TestApp, uuid: &str) -> (Amount, String) {
    let r = row(app, uuid).await;
    let c = currency::crypto(r.currency.as_deref().expect("currency chosen")).unwrap();
    let due = r.quote.expect("quote").due;
    (due, due.to_decimal_string(c.decimals))
}

/// The text between `start` and the next `<`.
fn between(body: &str, start: &str) -> String {
    let i = body
        .find(start)
        .unwrap_or_else(|| panic!("{start:?} not on the page:\n{body}"))
        + start.len();
    body[i..].split('<').next().unwrap().to_owned()
}

/// Verifies a postback token as a shop would, with a standard JWT library.
fn verify(token: &str, secret: &str) -> Value {
    let mut v = Validation::new(Algorithm::HS256);
    v.set_required_spec_claims(&["exp"]);
    jsonwebtoken::decode::<Value>(token, &DecodingKey::from_secret(secret.as_bytes()), &v)
        .unwrap_or_else(|e| panic!("token {token} does not verify: {e}"))
        .claims
}

engine_test!(
    async fn merchant_signs_up_integrates_and_gets_a_verified_postback(engine) {
        let (app, mail) = app_with_mail(engine).await;
        let shop = Receiver::start().await;

        // Sign up and confirm through the dashboard.
        let s = Session::new(&app.base);
        let r = s.submit("/signup", &[("business", "Corner Shop"), ("email", "owner@corner.example"), ("password", PASSWORD), ("password_repeat", PASSWORD)]).await;
        let r = s.follow(&r).await;
        assert!(r.has("We sent a confirmation link"), "{}", r.body);
        app.drain_jobs().await;
        let link = mail.last_to("owner@corner.example").link(&format!("{}/confirm-email/", app.base));
        s.get(link.trim_start_matches(&app.base)).await;
        let s = sign_in(&app, "owner@corner.example").await;

        // Create the project: the page shows the keys once.
        let r = s.submit("/projects/new", &[("name", "Corner Shop"), ("site_url", "https://corner.example"), ("notify_url", &shop.url)]).await;
        let r = s.follow(&r).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let shop_id = between(&r.body, "id=\"shop-id\">");
        let api_key = between(&r.body, "id=\"api-key\" class=\"secret\">");
        let secret_key = between(&r.body, "id=\"secret-key\">");
        assert_eq!(shop_id.len(), 16);
        assert!(shop_id.chars().all(|c| c.is_ascii_alphanumeric()));
        let project_id = between(&r.body, "href=\"/projects/").split('/').next().unwrap().to_owned();
        let integration = s.get(&format!("/projects/{project_id}/integration")).await;
        assert_eq!(integration.status, StatusCode::OK);
        assert!(integration.has(&shop_id), "the integration page shows the shop id");
        assert!(!integration.has(&api_key), "the API key is shown only once");
        let p = Created { id: kassa_core::ProjectId::new(project_id.parse().unwrap()), shop_id, api_key, secret_key };

        // The shop creates an invoice exactly as it would with CryptoCloud.
        let inv = create_invoice(&app, &p, json!({"amount": 100, "currency": "USD", "order_id": "order-42", "email": "payer@example.com", "add_fields": {"cryptocurrency": "USDT_TRC20"}})).await;
        let uuid = inv["uuid"].as_str().unwrap().to_owned();
        assert_eq!(inv["status"], "created");
        assert_eq!(inv["test_mode"], true);
        assert!(inv["address"].as_str().unwrap().starts_with('T'), "a TRON address: {inv}");
        let (due, due_text) = due(&app, &uuid).await;
        assert_eq!(due_text, "100", "merchant carries the fees by default");

        // A partial payment: partial, nothing sent yet.
        pay(&app, &p, &uuid, json!({"amount": "40"})).await;
        let i = info(&app, &p, &uuid).await;
        assert_eq!((i["status"].as_str(), i["to_surcharge"].as_f64()), (Some("partial"), Some(60.0)), "{i}");
        app.drain_jobs().await;
        assert!(shop.hits().is_empty(), "no postback for an unconfirmed partial payment");

        // The rest: paid, and the postback goes out.
        let rest = due.checked_sub(Amount::parse("40", 6).unwrap()).unwrap();
        pay(&app, &p, &uuid, json!({"amount": rest.to_decimal_string(6)})).await;
        app.drain_jobs().await;
        let hits = shop.hits();
        assert_eq!(hits.len(), 1, "one postback");
        let hit = &hits[0];
        assert!(hit.content_type.starts_with("application/json"), "{}", hit.content_type);
        assert!(hit.user_agent.starts_with("Kassa/"));
        let body = hit.json();
        let short = uuid.trim_start_matches("INV-");
        assert_eq!(body["status"], "success");
        assert_eq!(body["invoice_id"], short, "without INV-");
        assert_eq!(body["amount_crypto"], json!(100.0));
        assert_eq!(body["currency"], "USDT_TRC20");
        assert_eq!(body["order_id"], "order-42");
        assert_eq!(body["amount_usdt"], json!(100.0));
        assert_eq!(body["invoice_info"]["uuid"], uuid.as_str());
        assert_eq!(body["invoice_info"]["status"], "paid");
        assert_eq!(body["invoice_info"]["tx_list"].as_array().unwrap().len(), 2);
        assert!(body["invoice_info"]["date_finished"].is_string());
        let token = body["token"].as_str().unwrap();
        let header = jsonwebtoken::decode_header(token).unwrap();
        assert_eq!(header.alg, Algorithm::HS256);
        let claims = verify(token, &p.secret_key);
        assert_eq!(claims["id"], short);
        let (exp, iat) = (claims["exp"].as_i64().unwrap(), claims["iat"].as_i64().unwrap());
        assert_eq!(exp - iat, 300, "valid for five minutes");
        let mut strict = Validation::new(Algorithm::HS256);
        strict.set_required_spec_claims(&["exp"]);
        assert!(jsonwebtoken::decode::<Value>(token, &DecodingKey::from_secret(b"another secret"), &strict).is_err(), "a wrong secret does not verify");

        // The API reports it paid; the fees were taken from the merchant's credit.
        let i = info(&app, &p, &uuid).await;
        assert_eq!(i["status"], "paid");
        assert_eq!(i["invoice_status"], "success");
        assert_eq!(i["amount_paid"], json!(100.0));
        assert_eq!(i["received"], json!(96.7), "100 − 1.9 % service fee − 1.4 USDT transfer fee: {i}");
        assert_eq!(i["to_surcharge"], json!(0.0));
        assert_eq!(i["order_id"], "order-42");

        // Every attempt is logged; a test invoice never touches balances.
        let attempts = store::postbacks_of(&mut app.state.db.conn().await.unwrap(), row(&app, &uuid).await.id).await.unwrap();
        assert_eq!(attempts.len(), 1);
        assert_eq!((attempts[0].http_status, attempts[0].response_excerpt.as_str(), attempts[0].error.as_deref()), (Some(200), "ok", None));
        let merchant = row(&app, &uuid).await.merchant_id;
        assert!(ledger::balances(&mut app.state.db.conn().await.unwrap(), merchant).await.unwrap().is_empty());
        let (_, b) = api(&app, &p.api_key, "/v2/merchant/wallet/balance/all", json!({})).await;
        assert_eq!(b["result"], json!([]), "no balance from test invoices: {b}");
    }
);

engine_test!(
    async fn form_postbacks_are_retried_with_backoff_and_every_attempt_is_logged(engine) {
        let app = TestApp::spawn(engine).await;
        let o = owner(&app, "o@shop.example").await;
        let shop = Receiver::answering(&[500, 503]).await;
        let p = project_with_settings(&app, o, "Shop", |s| {
            s.notify_url = shop.url.clone();
            s.postback_format = kassa_core::project::PostbackFormat::Form;
        })
        .await;
        let inv = create_invoice(&app, &p, json!({"amount": "25.50", "currency": "EUR", "order_id": 7, "add_fields": {"cryptocurrency": "BTC"}})).await;
        let uuid = inv["uuid"].as_str().unwrap().to_owned();
        let (_, due) = due(&app, &uuid).await;
        pay(&app, &p, &uuid, json!({"amount": due})).await;

        // (drain_jobs also runs maintenance jobs, so deliveries are counted at the receiver.)
        app.drain_jobs().await;
        assert_eq!(shop.hits().len(), 1, "first attempt");
        // Not again right away: the first retry is between 30 s and a minute later.
        app.clock.advance(Duration::from_secs(25));
        app.drain_jobs().await;
        assert_eq!(shop.hits().len(), 1, "backing off");
        app.clock.advance(Duration::from_secs(40));
        app.drain_jobs().await;
        assert_eq!(shop.hits().len(), 2, "second attempt");
        app.clock.advance(Duration::from_secs(125));
        app.drain_jobs().await;
        assert_eq!(shop.hits().len(), 3, "third attempt");
        app.clock.advance(Duration::from_secs(3600));
        app.drain_jobs().await;
        assert_eq!(shop.hits().len(), 3, "delivered: nothing more");

        let hits = shop.hits();
        assert_eq!(hits.len(), 3);
        let mut tokens = Vec::new();
        for hit in &hits {
            assert!(hit.content_type.starts_with("application/x-www-form-urlencoded"), "{}", hit.content_type);
            let form = hit.form();
            let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_else(|| panic!("no {k} in {form:?}"));
            let mut keys: Vec<&str> = form.iter().map(|(k, _)| k.as_str()).collect();
            keys.sort_unstable();
            assert_eq!(keys, ["amount_crypto", "amount_usdt", "currency", "invoice_id", "invoice_info", "order_id", "status", "token"]);
            assert_eq!(get("status"), "success");
            assert_eq!(get("currency"), "BTC");
            assert_eq!(get("order_id"), "7", "an integer order id comes back as text");
            assert_eq!(get("amount_crypto").parse::<f64>().unwrap(), due.parse::<f64>().unwrap());
            let info: Value = serde_json::from_str(&get("invoice_info")).expect("invoice_info is a JSON string in form mode");
            assert_eq!(info["status"], "paid");
            assert_eq!(info["fiat_currency"], "EUR");
            let claims = verify(&get("token"), &p.secret_key);
            assert_eq!(claims["id"], uuid.trim_start_matches("INV-"));
            tokens.push(get("token"));
        }
        tokens.dedup();
        assert_eq!(tokens.len(), 3, "each retry carries a freshly signed token");

        let attempts = store::postbacks_of(&mut app.state.db.conn().await.unwrap(), row(&app, &uuid).await.id).await.unwrap();
        let log: Vec<(i64, Option<i64>, &str, Option<&str>)> =
            attempts.iter().map(|a| (a.attempt, a.http_status, a.response_excerpt.as_str(), a.error.as_deref())).collect();
        assert_eq!(
            log,
            [
                (1, Some(500), "shop is down for maintenance", Some("HTTP 500")),
                (2, Some(503), "shop is down for maintenance", Some("HTTP 503")),
                (3, Some(200), "ok", None)
            ]
        );
        assert!(attempts.iter().all(|a| a.url == shop.url && a.latency_ms >= 0));
        assert!(attempts.windows(2).all(|w| w[0].at < w[1].at));
    }
);

engine_test!(
    async fn postback_delivery_gives_up_after_three_days(engine) {
        let app = TestApp::spawn(engine).await;
        let o = owner(&app, "o@shop.example").await;
        let shop = Receiver::start().await;
        shop.always(502);
        let p = project_with_settings(&app, o, "Shop", |s| s.notify_url = shop.url.clone()).await;
        let inv = create_invoice(&app, &p, json!({"amount": 10, "add_fields": {"cryptocurrency": "LTC"}})).await;
        let uuid = inv["uuid"].as_str().unwrap().to_owned();
        let (_, due) = due(&app, &uuid).await;
        pay(&app, &p, &uuid, json!({"amount": due})).await;
        app.drain_jobs().await;
        for _ in 0..(4 * 24) {
            app.clock.advance(Duration::from_secs(3600));
            app.drain_jobs().await;
        }
        // ~1, 2, 4, … 32 minutes, then about hourly: some 75 tries in three days, then none.
        let attempts = shop.hits().len();
        assert!((60..=80).contains(&attempts), "{attempts} attempts");
        let failed = kassa_store::jobs::list(&app.state.db, Some(JobState::Failed), 10).await.unwrap();
        assert_eq!(failed.len(), 1, "the postback job gave up and is kept for the operator");
        assert_eq!(failed[0].kind, "postback.send");
        assert_eq!(failed[0].last_error.as_deref(), Some("HTTP 502"));
        let last = failed[0].updated_at;
        assert!(last.duration_since(failed[0].created_at) <= Duration::from_secs(3 * 24 * 3600));
        assert!(last.duration_since(failed[0].created_at) >= Duration::from_secs(3 * 24 * 3600 - 2 * 3600));
    }
);

engine_test!(
    async fn postbacks_to_private_addresses_are_refused_unless_the_operator_allows_them(engine) {
        let app = TestApp::spawn_with(engine, |s| s.server.allow_private_targets = false).await;
        let o = owner(&app, "o@shop.example").await;
        let shop = Receiver::start().await;
        let localhost = shop.url.replace("127.0.0.1", "localhost");
        for url in [shop.url.as_str(), localhost.as_str(), "http://169.254.169.254/latest/meta-data/", "http://[::1]:9/x", "http://10.0.0.8/hook"] {
            let p = project_with_settings(&app, o, "Shop", |s| s.notify_url = url.to_owned()).await;
            let inv = create_invoice(&app, &p, json!({"amount": 10, "add_fields": {"cryptocurrency": "USDT_TRC20"}})).await;
            let uuid = inv["uuid"].as_str().unwrap().to_owned();
            pay(&app, &p, &uuid, json!({"amount": "10"})).await;
            app.drain_jobs().await;
            let attempts = store::postbacks_of(&mut app.state.db.conn().await.unwrap(), row(&app, &uuid).await.id).await.unwrap();
            assert_eq!(attempts.len(), 1, "{url}");
            let error = attempts[0].error.clone().unwrap_or_default();
            assert!(error.contains("not a public internet address"), "{url}: {error}");
            assert_eq!(attempts[0].http_status, None);
        }
        assert!(shop.hits().is_empty(), "nothing reached the private receiver");
    }
);

engine_test!(
    async fn unpaid_invoices_expire_and_late_payments_are_still_credited(engine) {
        let app = TestApp::spawn(engine).await;
        let o = owner(&app, "o@shop.example").await;
        let shop = Receiver::start().await;
        let p = project_with_settings(&app, o, "Shop", |s| s.notify_url = shop.url.clone()).await;
        let lifetime = json!({"time_to_pay": {"hours": 0, "minutes": 30}});
        let plain = create_invoice(&app, &p, json!({"amount": 5, "add_fields": lifetime})).await;
        let mut add = lifetime.clone();
        add["cryptocurrency"] = json!("ETH");
        let priced = create_invoice(&app, &p, json!({"amount": 5, "add_fields": add.clone()})).await;
        let partly = create_invoice(&app, &p, json!({"amount": 5, "add_fields": add})).await;
        let [plain, priced, partly] = [&plain, &priced, &partly].map(|i| i["uuid"].as_str().unwrap().to_owned());
        let expiry = info(&app, &p, &plain).await["expiry_date"].as_str().unwrap().to_owned();
        let (due_eth, due_text) = due(&app, &partly).await;
        let half = Amount::from_base(due_eth.base() / 2);
        pay(&app, &p, &partly, json!({"amount": half.to_decimal_string(18)})).await;

        app.clock.advance(Duration::from_secs(29 * 60));
        app.drain_jobs().await;
        assert_eq!(info(&app, &p, &plain).await["status"], "created", "not yet");

        app.clock.advance(Duration::from_secs(2 * 60));
        app.drain_jobs().await;
        for uuid in [&plain, &priced] {
            let i = info(&app, &p, uuid).await;
            assert_eq!(i["status"], "canceled", "{i}");
            assert!(i["date_finished"].as_str().unwrap() >= expiry.as_str());
        }
        assert_eq!(info(&app, &p, &partly).await["status"], "partial", "a partly paid invoice is not cancelled");

        // A payment after expiry is never dropped: recorded, confirmed, flagged, notified.
        let (_, priced_due) = due(&app, &priced).await;
        pay(&app, &p, &priced, json!({"amount": priced_due})).await;
        let r = row(&app, &priced).await;
        assert_eq!((r.status, r.paid_late), (Status::Paid, true));
        pay(&app, &p, &partly, json!({"amount": due_eth.checked_sub(half).unwrap().to_decimal_string(18)})).await;
        let r = row(&app, &partly).await;
        assert_eq!((r.status, r.paid_late, r.received.to_decimal_string(18)), (Status::Paid, true, due_text));
        app.drain_jobs().await;
        let notified: Vec<String> = shop.hits().iter().map(|h| h.json()["invoice_id"].as_str().unwrap().to_owned()).collect();
        assert_eq!(notified.len(), 2);
        for uuid in [&priced, &partly] {
            assert!(notified.contains(&uuid.trim_start_matches("INV-").to_owned()));
        }
        // A cancelled invoice without payments cannot be cancelled again.
        let (status, v) = api(&app, &p.api_key, "/v2/invoice/merchant/canceled", json!({"uuid": plain})).await;
        assert_eq!((status, &v["result"]["validate_error"]), (StatusCode::BAD_REQUEST, &json!("Invoice is not created")));
    }
);

engine_test!(
    async fn partial_payments_are_confirmed_by_the_merchant_or_by_tolerance(engine) {
        let app = TestApp::spawn(engine).await;
        let o = owner(&app, "o@shop.example").await;
        let shop = Receiver::start().await;
        let strict = project_with_settings(&app, o, "Strict", |s| s.notify_url = shop.url.clone()).await;
        let lenient = project_with_settings(&app, o, "Lenient", |s| {
            s.notify_url = shop.url.clone();
            s.tolerance = kassa_core::invoice::Tolerance::Percent(1.into());
            s.service_fee_side = kassa_core::invoice::Side::Client;
        })
        .await;
        let add = json!({"cryptocurrency": "USDT_ERC20"});

        // Merchant confirms a partial invoice: paid for what arrived.
        let a = create_invoice(&app, &strict, json!({"amount": 200, "add_fields": add})).await;
        let a = a["uuid"].as_str().unwrap().to_owned();
        pay(&app, &strict, &a, json!({"amount": "150"})).await;
        app.drain_jobs().await;
        assert!(shop.hits().is_empty());
        let r = row(&app, &a).await;
        let r = kassa_service::invoices::confirm_partial(&app.state, r.id, "test").await.unwrap();
        assert_eq!((r.status, r.confirmed), (Status::Paid, Some(Confirmation::Merchant)));
        app.drain_jobs().await;
        assert_eq!(shop.hits().len(), 1);
        let i = info(&app, &strict, &a).await;
        assert_eq!((i["status"].as_str(), i["invoice_status"].as_str(), i["amount_paid"].as_f64()), (Some("paid"), Some("success"), Some(150.0)));
        // Service fee in proportion (1.9 % of 150 = 2.85), then the 2.5 USD transfer fee.
        assert_eq!(i["received"], json!(144.65), "{i}");

        // Within tolerance: confirmed without the merchant. The payer carries the service fee here.
        let b = create_invoice(&app, &lenient, json!({"amount": 100, "add_fields": add})).await;
        let b_uuid = b["uuid"].as_str().unwrap().to_owned();
        assert_eq!(b["amount"], json!(101.9), "price plus the service fee");
        assert_eq!(b["side_commission_cc"], "client");
        pay(&app, &lenient, &b_uuid, json!({"amount": "101"})).await;
        let r = row(&app, &b_uuid).await;
        assert_eq!((r.status, r.confirmed), (Status::Paid, Some(Confirmation::Tolerance)));
        // Below tolerance: partial.
        let c = create_invoice(&app, &lenient, json!({"amount": 100, "add_fields": add})).await;
        let c = c["uuid"].as_str().unwrap().to_owned();
        pay(&app, &lenient, &c, json!({"amount": "100.8"})).await;
        assert_eq!(row(&app, &c).await.status, Status::Partial);
        // Overpaid: credited in full less fees on the excess too.
        pay(&app, &lenient, &c, json!({"amount": "10"})).await;
        let i = info(&app, &lenient, &c).await;
        assert_eq!(i["status"], "overpaid");
        assert_eq!(i["amount_paid"], json!(110.8));
        app.drain_jobs().await;
        assert_eq!(shop.hits().len(), 3, "merchant-confirmed, tolerance-confirmed, overpaid");

        // Confirming is only for partial invoices.
        let err = kassa_service::invoices::confirm_partial(&app.state, row(&app, &b_uuid).await.id, "test").await;
        assert!(err.is_err());
    }
);

engine_test!(
    async fn repeated_reports_of_a_transfer_count_once(engine) {
        let app = TestApp::spawn(engine).await;
        let o = owner(&app, "o@shop.example").await;
        let p = project_with_settings(&app, o, "Shop", |_| {}).await;
        let inv = create_invoice(&app, &p, json!({"amount": 50, "add_fields": {"cryptocurrency": "USDT_TRC20"}})).await;
        let uuid = inv["uuid"].as_str().unwrap().to_owned();
        let address = inv["address"].as_str().unwrap().to_owned();
        let usdt = currency::crypto("USDT_TRC20").unwrap();
        let mut t = TransferReport {
            network: usdt.network,
            txid: "7f4c0b9a55e1e9d1a1bd3bb0c4b5b7d0c9a7e2f1a0b3c4d5e6f708192a3b4c5d",
            index: 0,
            address: &address,
            amount: Amount::parse("50", 6).unwrap(),
            currency: usdt,
            confirmed: false,
            confirmations: 0,
            test: true,
        };
        let id = row(&app, &uuid).await.id;
        assert_eq!(record_transfer(&app.state, &t).await.unwrap(), Recorded::Invoice(id));
        assert_eq!(record_transfer(&app.state, &t).await.unwrap(), Recorded::Duplicate, "seen twice");
        let r = row(&app, &uuid).await;
        assert_eq!((r.status, r.processing, r.received), (Status::Created, Amount::parse("50", 6).unwrap(), Amount::ZERO), "seen: processing, still created");
        assert_eq!(info(&app, &p, &uuid).await["status"], "created");

        t.confirmed = true;
        t.confirmations = 20;
        assert_eq!(record_transfer(&app.state, &t).await.unwrap(), Recorded::Invoice(id));
        assert_eq!(record_transfer(&app.state, &t).await.unwrap(), Recorded::Duplicate, "confirmed twice");
        let r = row(&app, &uuid).await;
        assert_eq!((r.status, r.processing, r.received), (Status::Paid, Amount::ZERO, Amount::parse("50", 6).unwrap()));
        assert_eq!(info(&app, &p, &uuid).await["tx_list"], json!([t.txid]));

        // A real (non-simulated) transfer to a test address, or one to an unknown address, records nothing.
        t.test = false;
        t.txid = "another";
        assert_eq!(record_transfer(&app.state, &t).await.unwrap(), Recorded::UnknownAddress);
        t.test = true;
        t.address = "TJYeasTPa6gpEEfYqBX6fMrCSePCq8jbyr";
        assert_eq!(record_transfer(&app.state, &t).await.unwrap(), Recorded::UnknownAddress);
        assert_eq!(row(&app, &uuid).await.received, Amount::parse("50", 6).unwrap());
    }
);

engine_test!(
    async fn coins_of_another_currency_are_recorded_but_never_counted(engine) {
        let app = TestApp::spawn(engine).await;
        let o = owner(&app, "o@switch.example").await;
        let p = project_with_settings(&app, o, "Shop", |_| {}).await;
        let inv = create_invoice(&app, &p, json!({"amount": 100})).await;
        let uuid = inv["uuid"].as_str().unwrap().to_owned();
        let bare = uuid.trim_start_matches("INV-").to_owned();
        // The payer picks BTC, then switches to LTC before paying: a new address.
        let pick = |code: &'static str| {
            let (app, bare) = (&app, bare.clone());
            async move {
                let r = app.client.post(format!("{}/pay/{bare}", app.base)).form(&[("currency", code)]).send().await.unwrap();
                assert_eq!(r.status(), StatusCode::SEE_OTHER);
            }
        };
        pick("BTC").await;
        let btc_address = row(&app, &uuid).await.address.unwrap();
        pick("LTC").await;
        let r = row(&app, &uuid).await;
        assert_eq!(r.currency.as_deref(), Some("LTC"));
        assert_ne!(r.address.as_deref(), Some(btc_address.as_str()));

        // BTC still arrives at the old address: recorded and shown, never counted as LTC.
        let btc = currency::crypto("BTC").unwrap();
        let mut t = TransferReport {
            network: btc.network,
            txid: "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0",
            index: 1,
            address: &btc_address,
            amount: Amount::parse("0.01", 8).unwrap(),
            currency: btc,
            confirmed: false,
            confirmations: 0,
            test: true,
        };
        assert_eq!(record_transfer(&app.state, &t).await.unwrap(), Recorded::Invoice(r.id));
        t.confirmed = true;
        t.confirmations = 2;
        assert_eq!(record_transfer(&app.state, &t).await.unwrap(), Recorded::Invoice(r.id));
        assert_eq!(record_transfer(&app.state, &t).await.unwrap(), Recorded::Duplicate);
        let after = row(&app, &uuid).await;
        assert_eq!((after.status, after.received, after.processing), (Status::Created, Amount::ZERO, Amount::ZERO));
        let mut c = app.state.db.conn().await.unwrap();
        let transfers = store::transfers_of(&mut c, r.id).await.unwrap();
        assert_eq!(transfers.len(), 1);
        assert_eq!(transfers[0].state, store::TransferState::Confirmed);
        let kinds: Vec<String> = store::events(&mut c, r.id).await.unwrap().into_iter().map(|e| e.0).collect();
        assert!(kinds.contains(&"other_currency_seen".to_owned()) && kinds.contains(&"other_currency_confirmed".to_owned()), "{kinds:?}");
        drop(c);

        // The LTC payment the invoice asks for still completes it.
        let (due, _) = due(&app, &uuid).await;
        pay(&app, &p, &uuid, json!({"amount": due.to_decimal_string(8)})).await;
        assert_eq!(info(&app, &p, &uuid).await["status"], "paid");
    }
);

engine_test!(
    async fn live_confirmations_post_balanced_ledger_entries(engine) {
        let app = TestApp::spawn(engine).await;
        let o = owner(&app, "o@shop.example").await;
        let p = project_with_settings(&app, o, "Shop", |_| {}).await;
        let usdt = currency::crypto("USDT_TRC20").unwrap();
        let address = "TLa2f6VPqDgRE67v1736s7bJ8Ray5wYjU7";
        let inv = live_invoice(&app, p.id, "USDT_TRC20", "100", address).await;
        let report = |txid: &'static str, amount: &str, confirmed: bool| TransferReport {
            network: usdt.network,
            txid,
            index: 0,
            address,
            amount: Amount::parse(amount, 6).unwrap(),
            currency: usdt,
            confirmed,
            confirmations: i64::from(confirmed) * 20,
            test: false,
        };
        // A simulated payment never counts for a live address.
        let mut fake = report("sim", "100", true);
        fake.test = true;
        assert_eq!(record_transfer(&app.state, &fake).await.unwrap(), Recorded::UnknownAddress);

        let balances = |app: &TestApp| {
            let db = app.state.db.clone();
            let merchant = inv.merchant_id;
            async move {
                let b = ledger::balances(&mut db.conn().await.unwrap(), merchant).await.unwrap();
                let get = |k: Kind| b.get(&(k, "USDT_TRC20".to_owned())).copied().unwrap_or(Amount::ZERO).to_decimal_string(6);
                (get(Kind::MerchantPending), get(Kind::MerchantAvailable))
            }
        };
        // Seen, unconfirmed: nothing moves.
        record_transfer(&app.state, &report("a", "60", false)).await.unwrap();
        assert_eq!(balances(&app).await, ("0".into(), "0".into()));
        // Confirmed but partial: pending, not available.
        record_transfer(&app.state, &report("a", "60", true)).await.unwrap();
        assert_eq!(balances(&app).await, ("60".into(), "0".into()));
        // Paid: available less fees, pending emptied.
        record_transfer(&app.state, &report("b", "40", true)).await.unwrap();
        assert_eq!(balances(&app).await, ("0".into(), "96.7".into()));
        // A late extra payment: overpaid, the excess credited less the service fee on it.
        record_transfer(&app.state, &report("c", "10", true)).await.unwrap();
        let r = store::by_id(&mut app.state.db.conn().await.unwrap(), inv.id).await.unwrap();
        assert_eq!(r.status, Status::Overpaid);
        assert_eq!(balances(&app).await, ("0".into(), "106.51".into()), "10 − 0.19 service fee");

        let mut c = app.state.db.conn().await.unwrap();
        assert!(ledger::verify(&mut c).await.unwrap().is_empty(), "every account equals the sum of its entries");
        // Operator-side accounts: custody holds all 110; fees 1.9 + 0.19 and 1.4.
        let totals = operator_accounts(&app).await;
        assert_eq!(
            totals,
            [("custody".into(), "110000000".into()), ("network_fees".into(), "1400000".into()), ("service_fees".into(), "2090000".into())]
        );
    }
);

/// The operator-wide ledger accounts: (kind, balance in base units).
async fn operator_accounts(app: &TestApp) -> Vec<(String, String)> {
    const Q: &str = "select kind, cast(balance as text) from ledger_account where merchant_id is null order by kind";
    match &app.state.db {
        kassa_store::Db::Sqlite(pool, ..) => sqlx::query_as(Q).fetch_all(pool).await.unwrap(),
        kassa_store::Db::Postgres(pool) => sqlx::query_as(Q).fetch_all(pool).await.unwrap(),
    }
}

engine_test!(
    async fn a_scripted_setup_runs_against_the_real_binary(engine) {
        // What a merchant's CI does: create the owner and the project with the CLI, start
        // `kassa serve`, and drive an invoice to "paid" through the API and the test helper.
        let db = crate::support::TestDb::new(engine).await;
        let dir = db.dir().to_owned();
        let url = db.url_text();
        let env: Vec<(&str, &str)> = vec![("KASSA_DATABASE_URL", &url), ("KASSA_ALLOW_PRIVATE_TARGETS", "true")];
        let shop = Receiver::start().await;
        let keys = crate::support::process::scripted_shop(&dir, &env, "ci@shop.example", &shop.url);
        let mut names: Vec<&String> = keys.as_object().unwrap().keys().collect();
        names.sort();
        assert_eq!(names, ["api_key", "secret_key", "shop_id"]);
        let bad = crate::support::process::run_in(&dir, &["admin", "create-project", "--owner", "nobody@shop.example", "--name", "X"], &env);
        assert!(!bad.status.success());
        assert!(String::from_utf8_lossy(&bad.stderr).contains("no user has the e-mail nobody@shop.example"));

        let server = crate::support::process::Server::start(&dir, &["--listen", "127.0.0.1:0"], &env);
        let http = crate::support::http_client();
        let call = |path: &str, body: Value| {
            http.post(format!("{}{path}", server.url)).header("authorization", format!("Token {}", keys["api_key"].as_str().unwrap())).form(&flatten(&body)).send()
        };
        let r: Value = call("/v2/invoice/create", json!({"shop_id": keys["shop_id"], "amount": "12.5", "currency": "USD"})).await.unwrap().json().await.unwrap();
        assert_eq!(r["status"], "success", "{r}");
        let uuid = r["result"]["uuid"].as_str().unwrap().to_owned();
        let r = call(&format!("/api/v1/test-helpers/invoices/{uuid}/pay"), json!({"amount": "12.5", "currency": "USDT_TRC20"})).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let paid: Value = r.json().await.unwrap();
        assert_eq!(paid["result"]["status"], "paid", "{paid}");
        crate::support::wait_until(20, "the postback", || async { !shop.hits().is_empty() }).await;
        let form = shop.hits()[0].form();
        assert!(form.iter().any(|(k, v)| k == "invoice_id" && v == uuid.trim_start_matches("INV-")));
        assert!(server.terminate().success());
    }
);

/// A flat JSON object as form fields.
fn flatten(v: &Value) -> Vec<(String, String)> {
    v.as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                v.as_str().map_or_else(|| v.to_string(), str::to_owned),
            )
        })
        .collect()
}

engine_test!(
    async fn test_invoices_are_confirmed_without_payment_as_full_partial_or_over(engine) {
        use kassa_service::invoices::{Simulated, simulate};
        let app = TestApp::spawn(engine).await;
        let o = owner(&app, "o@shop.example").await;
        let p = project_with_settings(&app, o, "Shop", |_| {}).await;
        let make = || create_invoice(&app, &p, json!({"amount": 20, "add_fields": {"cryptocurrency": "USDC_BSC"}}));
        let a = make().await["uuid"].as_str().unwrap().to_owned();
        simulate(&app.state, &row(&app, &a).await, Simulated::Partial).await.unwrap();
        let i = info(&app, &p, &a).await;
        assert_eq!((i["status"].as_str(), i["amount_paid"].as_f64(), i["to_surcharge"].as_f64()), (Some("partial"), Some(10.0), Some(10.0)));
        simulate(&app.state, &row(&app, &a).await, Simulated::Full).await.unwrap();
        assert_eq!(info(&app, &p, &a).await["status"], "paid");
        let err = simulate(&app.state, &row(&app, &a).await, Simulated::Full).await.unwrap_err();
        assert_eq!(err.to_string(), "nothing is due on this invoice any more");

        let b = make().await["uuid"].as_str().unwrap().to_owned();
        simulate(&app.state, &row(&app, &b).await, Simulated::Over).await.unwrap();
        let i = info(&app, &p, &b).await;
        assert_eq!((i["status"].as_str(), i["amount_paid"].as_f64()), (Some("overpaid"), Some(22.0)));
        assert_eq!(i["tx_list"].as_array().unwrap().len(), 1, "one simulated transfer");

        // Without a chosen currency there is nothing to simulate yet.
        let c = create_invoice(&app, &p, json!({"amount": 20})).await["uuid"].as_str().unwrap().to_owned();
        let err = simulate(&app.state, &row(&app, &c).await, Simulated::Full).await.unwrap_err();
        assert_eq!(err.to_string(), "the invoice has no payment currency");
    }
);

#[tokio::test]
async fn every_currency_and_network_icon_is_served_as_svg() {
    let app = TestApp::spawn(crate::support::Engine::Sqlite).await;
    let mut paths: Vec<String> = Vec::new();
    for c in currency::CRYPTOS {
        paths.push(format!(
            "/assets/icons/coin/{}.svg",
            c.symbol.to_ascii_lowercase()
        ));
        paths.push(format!(
            "/assets/icons/network/{}.svg",
            c.network.code.to_ascii_lowercase()
        ));
    }
    paths.sort();
    paths.dedup();
    for path in paths {
        let r = app.get(&path).await;
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        assert_eq!(r.headers()["content-type"], "image/svg+xml", "{path}");
        let body = r.text().await.unwrap();
        assert!(
            body.starts_with("<svg") && !body.contains("<script"),
            "{path}"
        );
    }
}

engine_test!(
    async fn the_payment_link_is_emailed_and_repeated_until_paid(engine) {
        let (app, mail) = app_with_mail(engine).await;
        let o = owner(&app, "o@shop.example").await;
        let p = project_with_settings(&app, o, "Corner Shop", |s| s.page_language = kassa_core::lang::Lang::Ru).await;
        let inv = create_invoice(&app, &p, json!({"amount": "15", "currency": "EUR", "add_fields": {"email_to_send": "payer@example.com", "period": "day", "cryptocurrency": "USDT_TRC20", "time_to_pay": {"hours": 72}}})).await;
        let uuid = inv["uuid"].as_str().unwrap().to_owned();
        let link = format!("{}/pay/{}", app.state.public_url, uuid.trim_start_matches("INV-"));
        app.drain_jobs().await;
        let letters = mail.to("payer@example.com");
        assert_eq!(letters.len(), 1);
        assert_eq!(letters[0].subject, "Запрос на оплату от Corner Shop", "in the project's page language");
        assert!(letters[0].text.contains(&link), "{}", letters[0].text);
        assert!(letters[0].text.contains("15 EUR"), "{}", letters[0].text);

        // A day later, again; once paid, no more.
        app.clock.advance(Duration::from_secs(86_400 + 60));
        app.drain_jobs().await;
        assert_eq!(mail.to("payer@example.com").len(), 2, "reminded after a day");
        let (_, due) = due(&app, &uuid).await;
        pay(&app, &p, &uuid, json!({"amount": due})).await;
        app.clock.advance(Duration::from_secs(86_400 + 60));
        app.drain_jobs().await;
        assert_eq!(mail.to("payer@example.com").len(), 2, "no reminder for a paid invoice");
        // Nor for an expired one.
        create_invoice(&app, &p, json!({"amount": 1, "add_fields": {"email_to_send": "late@example.com", "period": "day"}})).await;
        app.drain_jobs().await;
        app.clock.advance(Duration::from_secs(86_400 + 60));
        app.drain_jobs().await;
        assert_eq!(mail.to("late@example.com").len(), 1, "the invoice expired after 24 h");

        // period without email_to_send is refused.
        let (status, v) = api(&app, &p.api_key, "/v2/invoice/create", json!({"shop_id": p.shop_id, "amount": 1, "add_fields": {"period": "week"}})).await;
        assert_eq!((status, &v["result"]["period"]), (StatusCode::BAD_REQUEST, &json!("period needs email_to_send.")));
    }
);

engine_test!(
    async fn a_bad_stored_value_is_an_error_never_a_default(engine) {
        let app = TestApp::spawn(engine).await;
        let o = owner(&app, "o@shop.example").await;
        let p = project_with_settings(&app, o, "Shop", |_| {}).await;
        let created = create_invoice(&app, &p, json!({"amount": 10, "currency": "EUR"})).await;
        let uuid = created["uuid"].as_str().unwrap().trim_start_matches("INV-").to_owned();
        let good = row(&app, &uuid).await;
        assert_eq!(good.price.to_string(), "10.00 EUR");
        // Each column a service would once have re-parsed with a silent default: corrupt it,
        // and reading the invoice fails, naming the column.
        for (column, bad) in [
            ("price_currency", "EURO"),
            ("price_amount", "ten"),
            ("amount_usd", "1e3"),
            ("rate_usd", "-"),
            ("tolerance_kind", "some"),
            ("tolerance_value", "x"),
            ("locale", "klingon"),
            ("service_fee_side", "payer"),
        ] {
            let mut tx = app.state.db.begin().await.unwrap();
            let q = format!("update invoice set {column} = $1 where uuid = $2");
            let changed = kassa_store::exec!(&mut tx, sqlx::query(sqlx::AssertSqlSafe(q.clone())).bind(bad).bind(&uuid)).unwrap();
            assert_eq!(changed, 1);
            let read = store::by_uuid(&mut tx, &uuid).await;
            let err = read.expect_err(&format!("{column} = {bad:?} must not read"));
            let text = err.to_string();
            let named = column.split('_').next().unwrap();
            assert!(text.contains(named), "{column}: {text}");
            // Rolled back: the next column starts from a good row.
            drop(tx);
        }
        assert_eq!(row(&app, &uuid).await.price.to_string(), "10.00 EUR");
    }
);
