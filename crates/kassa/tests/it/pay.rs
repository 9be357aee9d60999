//! The hosted payment page, `/pay/<id>`: over HTTP on both engines (every state, the forms,
//! payment URIs, languages, framing, the size budget and that nothing comes from another
//! host), and in real headless Chromium (a payer's whole journey with screenshots, the
//! requests the browser really makes, and the live status).

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::engine_test;
use crate::support::TestApp;
use crate::support::api::{Shop, shop, shop_with_settings};
use crate::support::webdriver::{Browser, artifacts, browser_skipped};

/// A plain page fetch: status, headers and body.
struct Page {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: String,
}

async fn get(app: &TestApp, path: &str, lang: Option<&str>) -> Page {
    let mut r = app.client.get(format!("{}{path}", app.base));
    if let Some(l) = lang {
        r = r.header("Accept-Language", l);
    }
    let r = r.send().await.expect("GET");
    Page {
        status: r.status(),
        headers: r.headers().clone(),
        body: r.text().await.expect("body"),
    }
}

async fn post(app: &TestApp, path: &str, form: &[(&str, &str)], origin: Option<&str>) -> Page {
    let mut r = app.client.post(format!("{}{path}", app.base)).form(form);
    if let Some(o) = origin {
        r = r.header("Origin", o);
    }
    let r = r.send().await.expect("POST");
    Page {
        status: r.status(),
        headers: r.headers().clone(),
        body: r.text().await.expect("body"),
    }
}

fn bare(uuid: &Value) -> String {
    uuid.as_str()
        .expect("uuid")
        .trim_start_matches("INV-")
        .to_owned()
}

/// A test shop with return URLs and a site that may frame the page.
async fn framed_shop(app: &TestApp, email: &str) -> Shop {
    shop_with_settings(app, email, |s| {
        s.site_url = "https://moonlight.example/shop".into();
        s.success_url = "https://moonlight.example/thanks?from=kassa".into();
        s.fail_url = "https://moonlight.example/sorry".into();
        s.brand_color = "#0f766e".into();
    })
    .await
}

engine_test!(
    async fn a_payer_chooses_pays_in_parts_and_returns_to_the_shop(engine) {
        let app = TestApp::spawn(engine).await;
        let s = framed_shop(&app, "owner@moonlight.example").await;
        let inv = s.create(25.0, json!({"currency": "USD", "order_id": "A-1001"})).await;
        let id = bare(&inv["uuid"]);
        let path = format!("/pay/{id}");

        // Choose: every offered currency, the price, the brand colour, framing for the shop.
        let p = get(&app, &path, None).await;
        assert_eq!(p.status, StatusCode::OK);
        assert!(p.body.contains("25.00 USD"), "{}", p.body);
        assert!(p.body.contains("Order A-1001"));
        assert!(p.body.contains("value=\"USDT_TRC20\""));
        assert!(p.body.contains("value=\"BTC\""));
        assert!(p.body.contains("--brand:#0f766e"));
        let csp = p.headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'self' https://moonlight.example"), "{csp}");
        assert!(p.headers.get("x-frame-options").is_none(), "XFO would forbid the shop's iframe");
        assert!(csp.contains("default-src 'none'"));
        // The inline brand style is allowed by its hash, nothing else inline.
        assert!(csp.contains("style-src 'self' 'sha256-"));

        // A form from another site is refused; one without a currency shows the error in place.
        let cross = post(&app, &path, &[("currency", "BTC")], Some("https://evil.example")).await;
        assert_eq!(cross.status, StatusCode::FORBIDDEN);
        let missing = post(&app, &path, &[("email", "not an email")], None).await;
        assert_eq!(missing.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(missing.body.contains("id=\"e-currency\""), "{}", missing.body);
        assert!(missing.body.contains("id=\"e-email\""));
        assert!(missing.body.contains("value=\"not an email\""), "what was typed is kept");
        let unknown = post(&app, &path, &[("currency", "DOGE")], None).await;
        assert!(unknown.body.contains("id=\"e-currency\""));
        assert_eq!(s.invoice(inv["uuid"].as_str().unwrap()).await["currency"]["fullcode"], "USDT_TRC20",
            "nothing was chosen by the refused forms (the API shows its default)");

        // Pick USDT on TRON, with an e-mail: the address, the exact amount and the QR code.
        let own_origin = app.base.clone();
        let chosen = post(&app, &path, &[("currency", "USDT_TRC20"), ("email", "payer@example.com")], Some(&own_origin)).await;
        assert_eq!(chosen.status, StatusCode::SEE_OTHER, "{}", chosen.body);
        let p = get(&app, &path, None).await;
        let row = crate::support::api::stored_invoice(&app, &id).await;
        let address = row.address.clone().expect("address");
        assert_eq!(row.email, "payer@example.com");
        assert!(address.starts_with('T'), "{address}");
        assert!(p.body.contains(&address));
        assert!(p.body.contains("<svg"), "QR code inline");
        assert!(p.body.contains("id=\"amount\">25<"), "{}", p.body);
        assert!(p.body.contains("Waiting for your payment"));
        assert!(p.body.contains("data-expires="));
        assert!(p.body.contains("Refresh status"), "the no-JS fallback link");
        assert!(p.body.contains("id=\"sim-partial\""), "test panel");

        // The status fingerprint changes when money arrives.
        let v0: Value = app.client.get(format!("{}{path}/status", app.base)).send().await.unwrap().json().await.unwrap();
        assert_eq!(v0["final"], false);
        let sim = post(&app, &format!("{path}/simulate"), &[("outcome", "partial")], Some(&own_origin)).await;
        assert_eq!(sim.status, StatusCode::SEE_OTHER);
        let v1: Value = app.client.get(format!("{}{path}/status", app.base)).send().await.unwrap().json().await.unwrap();
        assert_ne!(v0["v"], v1["v"]);

        // Partly paid: what arrived, what is missing, and the QR asks for the rest.
        let p = get(&app, &path, None).await;
        assert!(p.body.contains("Received 12.5 USDT of 25 USDT. Send the remaining 12.5 USDT"), "{}", p.body);
        assert!(p.body.contains("id=\"amount\">12.5<"));
        assert!(!p.body.contains("Choose another currency"), "the currency is fixed once paid");

        // Seen but not confirmed: confirming 0/1.
        s.pay_ok(inv["uuid"].as_str().unwrap(), json!({"amount": "5", "confirmed": false})).await;
        let p = get(&app, &path, None).await;
        assert!(p.body.contains("Payment seen"), "{}", p.body);
        assert!(p.body.contains("confirming 0/1"));
        assert!(p.body.contains("id=\"amount\">7.5<"), "seen money is not asked for twice");

        // The rest (the seen 5 may still confirm later): paid, a link back to the shop with
        // the invoice and order appended.
        s.pay_ok(inv["uuid"].as_str().unwrap(), json!({"amount": "12.5"})).await;
        let p = get(&app, &path, None).await;
        assert!(p.body.contains("Payment received"), "{}", p.body);
        assert!(p.body.contains("https://moonlight.example/thanks?from=kassa&#38;invoice_uuid=INV-"), "{}", p.body);
        assert!(p.body.contains("order_id=A-1001"));
        assert!(!p.body.contains("data-live="), "a final page stops polling");
        let v: Value = app.client.get(format!("{}{path}/status", app.base)).send().await.unwrap().json().await.unwrap();
        assert_eq!(v["final"], true);
        // Simulating on a paid invoice changes nothing and does not fail.
        let again = post(&app, &format!("{path}/simulate"), &[("outcome", "full")], None).await;
        assert_eq!(again.status, StatusCode::SEE_OTHER);
        assert_eq!(s.invoice(inv["uuid"].as_str().unwrap()).await["status"], "paid");
        app.stop().await;
    }
);

engine_test!(
    async fn expired_cancelled_overpaid_and_unknown_invoices(engine) {
        let app = TestApp::spawn(engine).await;
        let s = framed_shop(&app, "owner@states.example").await;

        // Expired: the fail link, no form, no polling.
        let inv = s.create(10.0, json!({"add_fields": {"cryptocurrency": "LTC", "time_to_pay": {"hours": 1}}})).await;
        let id = bare(&inv["uuid"]);
        app.clock.advance(Duration::from_secs(3601));
        let p = get(&app, &format!("/pay/{id}"), None).await;
        assert!(p.body.contains("This invoice has expired"), "{}", p.body);
        assert!(p.body.contains("https://moonlight.example/sorry?invoice_uuid=INV-"));
        assert!(!p.body.contains("data-live="));
        assert!(!p.body.contains("sim-full"));
        // A currency cannot be picked on an expired invoice: the page just shows where it is.
        let late = post(&app, &format!("/pay/{id}"), &[("currency", "BTC")], None).await;
        assert_eq!(late.status, StatusCode::SEE_OTHER);

        // Cancelled by the merchant.
        let inv = s.create(10.0, json!({})).await;
        let id = bare(&inv["uuid"]);
        s.post("/v2/invoice/merchant/canceled", json!({"uuid": inv["uuid"]})).await.success();
        let p = get(&app, &format!("/pay/{id}"), None).await;
        assert!(p.body.contains("This invoice was cancelled"), "{}", p.body);

        // Overpaid.
        let inv = s.create(10.0, json!({"add_fields": {"cryptocurrency": "USDT_TRC20"}})).await;
        let id = bare(&inv["uuid"]);
        post(&app, &format!("/pay/{id}/simulate"), &[("outcome", "over")], None).await;
        let p = get(&app, &format!("/pay/{id}"), None).await;
        assert!(p.body.contains("Payment received"));
        assert!(p.body.contains("You sent more than was due"), "{}", p.body);

        // Unknown and malformed ids: a page, 404, never a 500.
        for bad in ["/pay/ZZZZZZZZ", "/pay/INV-ZZZZZZZZ", "/pay/not-an-id", "/pay/%00"] {
            let p = get(&app, bad, None).await;
            assert_eq!(p.status, StatusCode::NOT_FOUND, "{bad}");
            assert!(p.body.contains("Invoice not found"), "{bad}");
        }
        let st = app.client.get(format!("{}/pay/ZZZZZZZZ/status", app.base)).send().await.unwrap();
        assert_eq!(st.status(), StatusCode::NOT_FOUND);
        // Garbage forms are a clear 400 page.
        let p = post(&app, &format!("/pay/{id}/simulate"), &[("outcome", "everything")], None).await;
        assert_eq!(p.status, StatusCode::BAD_REQUEST);

        // A live invoice has no test panel, and simulating is refused.
        let live = crate::support::api::live_invoice(&app, s.id, "USDT_TRC20", "10", "TXYZ9y5xZ5ZLVz4sPq9gSG7RxXkUQBKQWZ").await;
        let p = get(&app, &format!("/pay/{}", live.uuid), None).await;
        assert_eq!(p.status, StatusCode::OK, "{}", p.body);
        assert!(p.body.contains("TXYZ9y5xZ5ZLVz4sPq9gSG7RxXkUQBKQWZ"));
        assert!(!p.body.contains("sim-full"));
        assert!(!p.body.contains("Test invoice"));
        let refused = post(&app, &format!("/pay/{}/simulate", live.uuid), &[("outcome", "full")], None).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST);
        app.stop().await;
    }
);

engine_test!(
    async fn the_payers_email_is_asked_when_the_project_requires_it(engine) {
        let app = TestApp::spawn(engine).await;
        let s = shop_with_settings(&app, "owner@email.example", |s| s.email_required = true).await;
        // Even with the currency preset by the shop, the e-mail comes first.
        let inv = s.create(10.0, json!({"add_fields": {"cryptocurrency": "LTC"}})).await;
        let id = bare(&inv["uuid"]);
        let p = get(&app, &format!("/pay/{id}"), None).await;
        assert!(p.body.contains("Your e-mail (required for the receipt)"), "{}", p.body);
        assert!(p.body.contains("id=\"c-LTC\" name=\"currency\" value=\"LTC\" checked"), "the preset currency is selected");
        assert!(!p.body.contains("id=\"address\""));
        let refused = post(&app, &format!("/pay/{id}"), &[("currency", "LTC")], None).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(refused.body.contains("<p class=\"field-error\" id=\"e-email\">Enter your e-mail address.</p>"), "{}", refused.body);
        let ok = post(&app, &format!("/pay/{id}"), &[("currency", "LTC"), ("email", "payer@example.com")], None).await;
        assert_eq!(ok.status, StatusCode::SEE_OTHER);
        let p = get(&app, &format!("/pay/{id}"), None).await;
        assert!(p.body.contains("id=\"address\""), "{}", p.body);
        // The address did not change: the preset currency stayed.
        let row = crate::support::api::stored_invoice(&app, &id).await;
        assert_eq!(row.address.as_deref(), inv["address"].as_str());
        assert_eq!(row.email, "payer@example.com");
        // An invoice created with the payer's e-mail goes straight to paying.
        let inv = s.create(10.0, json!({"email": "known@example.com", "add_fields": {"cryptocurrency": "LTC"}})).await;
        let p = get(&app, &format!("/pay/{}", bare(&inv["uuid"])), None).await;
        assert!(p.body.contains("id=\"address\""));
        app.stop().await;
    }
);

engine_test!(
    async fn language_from_locale_or_the_browser(engine) {
        let app = TestApp::spawn(engine).await;
        let s = shop(&app, "owner@lang.example", "").await;
        // No locale: the browser decides.
        let inv = s.create(10.0, json!({})).await;
        let id = bare(&inv["uuid"]);
        let ru = get(&app, &format!("/pay/{id}"), Some("ru-RU,ru;q=0.9,en;q=0.8")).await;
        assert!(ru.body.contains("<html lang=\"ru\">"));
        assert!(ru.body.contains("Выберите способ оплаты"), "{}", ru.body);
        let en = get(&app, &format!("/pay/{id}"), Some("en-US")).await;
        assert!(en.body.contains("Choose how to pay"));
        // The invoice's locale wins over the browser; ?lang= over both.
        let inv = s.post("/v2/invoice/create?locale=ru", json!({"shop_id": s.shop_id, "amount": 10})).await.success();
        let id = bare(&inv["uuid"]);
        let p = get(&app, &format!("/pay/{id}"), Some("en-US")).await;
        assert!(p.body.contains("Выберите способ оплаты"));
        let p = get(&app, &format!("/pay/{id}?lang=en"), None).await;
        assert!(p.body.contains("Choose how to pay"));
        // The chosen language is kept by the form.
        assert!(p.body.contains(&format!("action=\"/pay/{id}?lang=en\"")));
        app.stop().await;
    }
);

engine_test!(
    async fn payment_uris_follow_each_networks_standard(engine) {
        let app = TestApp::spawn(engine).await;
        let s = shop(&app, "owner@uri.example", "").await;
        let wallet_link = |body: &str| {
            body.split("class=\"wallet\" href=\"").nth(1).map(|r| r.split('"').next().unwrap().replace("&amp;", "&").replace("&#38;", "&"))
        };
        // BIP 21 with the amount in coins.
        let inv = s.create(100.0, json!({"add_fields": {"cryptocurrency": "BTC"}})).await;
        let p = get(&app, &format!("/pay/{}", bare(&inv["uuid"])), None).await;
        let uri = wallet_link(&p.body).expect("BTC has a wallet link");
        let row = crate::support::api::stored_invoice(&app, &bare(&inv["uuid"])).await;
        let due = row.quote.unwrap().due.to_decimal_string(8);
        let due = due.trim_end_matches('0').trim_end_matches('.');
        assert_eq!(uri, format!("bitcoin:{}?amount={due}", row.address.unwrap()));
        // EIP-681, native coin, on the test chain (Sepolia) for a test invoice.
        let inv = s.create(100.0, json!({"add_fields": {"cryptocurrency": "ETH"}})).await;
        let p = get(&app, &format!("/pay/{}", bare(&inv["uuid"])), None).await;
        let row = crate::support::api::stored_invoice(&app, &bare(&inv["uuid"])).await;
        assert_eq!(
            wallet_link(&p.body).unwrap(),
            format!("ethereum:{}@11155111?value={}", row.address.unwrap(), row.quote.unwrap().due.base())
        );
        // EIP-681, ERC-20 transfer of the token contract.
        let inv = s.create(100.0, json!({"add_fields": {"cryptocurrency": "USDT_ERC20"}})).await;
        let p = get(&app, &format!("/pay/{}", bare(&inv["uuid"])), None).await;
        let row = crate::support::api::stored_invoice(&app, &bare(&inv["uuid"])).await;
        let uri = wallet_link(&p.body).unwrap();
        assert!(uri.starts_with("ethereum:0x"), "{uri}");
        assert!(uri.ends_with(&format!("@11155111/transfer?address={}&uint256={}", row.address.unwrap(), row.quote.unwrap().due.base())), "{uri}");
        // TRON: the plain address, no wallet link.
        let inv = s.create(100.0, json!({"add_fields": {"cryptocurrency": "USDT_TRC20"}})).await;
        let p = get(&app, &format!("/pay/{}", bare(&inv["uuid"])), None).await;
        assert!(wallet_link(&p.body).is_none());
        app.stop().await;
    }
);

/// Every URL a page refers to: `src`, `href` and `action` attributes, and `url(...)` in CSS.
fn references(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for attr in ["src=\"", "href=\"", "action=\"", "url("] {
        for (i, _) in text.match_indices(attr) {
            let rest = &text[i + attr.len()..];
            let end = rest.find(['"', ')']).unwrap_or(rest.len());
            out.push(rest[..end].trim_matches(['\'', '"']).to_owned());
        }
    }
    out
}

engine_test!(
    async fn the_page_stays_on_kassa_and_within_its_size_budget(engine) {
        let app = TestApp::spawn(engine).await;
        let s = shop_with_settings(&app, "owner@budget.example", |s| {
            s.success_url = "https://shop.example/thanks".into();
            s.fail_url = "https://shop.example/sorry".into();
        }).await;
        let inv = s.create(25.0, json!({})).await;
        let id = bare(&inv["uuid"]);
        // Measured in the heaviest states: the full currency list, and paying (QR code).
        let choose = get(&app, &format!("/pay/{id}"), None).await.body;
        post(&app, &format!("/pay/{id}"), &[("currency", "USDT_ERC20")], None).await;
        let paying = get(&app, &format!("/pay/{id}"), None).await.body;
        assert!(paying.contains("<svg"));
        for (state, html) in [("choose", &choose), ("paying", &paying)] {
            let mut total = html.len();
            let mut assets = Vec::new();
            for r in references(html) {
                // Only the return links to the merchant (plain links the payer may follow) may
                // name another host; nothing the page loads may.
                if r.starts_with("https://shop.example/") || r.starts_with("ethereum:") {
                    assert!(!r.contains("<"), "{r}");
                    continue;
                }
                assert!(r.starts_with('/') && !r.starts_with("//"), "{state}: {r} leaves Kassa");
                if r.starts_with("/assets/pay.") {
                    assets.push(r);
                }
            }
            assets.sort();
            assets.dedup();
            assert_eq!(assets.len(), 2, "{state}: one stylesheet and one script: {assets:?}");
            for a in &assets {
                let body = get(&app, a, None).await.body;
                for r in references(&body) {
                    assert!(r.starts_with('/') || r.starts_with("data:") || r.is_empty(), "{a} refers to {r}");
                }
                total += body.len();
            }
            eprintln!("payment page ({state}): HTML + CSS + JS = {total} bytes");
            assert!(total < 100 * 1024, "{state}: {total} bytes");
        }
        app.stop().await;
    }
);

/// Resources the page in `b` loaded, as (URL, bytes decoded).
async fn loaded(b: &Browser) -> Vec<(String, u64)> {
    let v = b
        .execute(
            "return performance.getEntries().filter(e => e.entryType === 'navigation' || e.entryType === 'resource')
                .map(e => [e.name, e.decodedBodySize || 0]);",
        )
        .await;
    v.as_array()
        .expect("entries")
        .iter()
        .map(|e| {
            (
                e[0].as_str().unwrap_or_default().to_owned(),
                e[1].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payer_pays_usdt_on_tron_in_chromium() {
    if browser_skipped() {
        return;
    }
    let app = TestApp::spawn(kassa_store::Engine::Sqlite).await;
    let s = framed_shop(&app, "owner@browser-pay.example").await;
    let inv = s
        .create(25.0, json!({"order_id": "A-2002", "currency": "USD"}))
        .await;
    let id = bare(&inv["uuid"]);
    let url = format!("{}/pay/{id}", app.base);
    let shots = artifacts("pay");
    let b = Browser::start(1280, 900).await;

    b.goto(&url).await;
    b.screenshot(&shots, "01-choose-desktop").await;
    b.click("label[for='c-USDT_TRC20']").await;
    b.type_into("#f-email", "payer@example.com").await;
    b.click("form.choose button[type=submit]").await;
    // The address and its QR code.
    b.find("#address").await;
    let address = b.text("#address").await;
    assert!(address.starts_with('T') && address.len() == 34, "{address}");
    b.find(".qr svg").await;
    assert_eq!(b.text("#amount").await, "25");
    assert!(b.text("#status").await.contains("Waiting for your payment"));
    // Copy buttons appear once the script runs; the countdown ticks.
    b.find("button.copy:not([hidden])").await;
    let countdown = b.text("#countdown").await;
    assert!(countdown.contains(':'), "{countdown}");
    b.screenshot(&shots, "02-address-desktop").await;

    // Every request the browser made went to Kassa, and the page is within its budget.
    let host = app.base.clone();
    let mut bytes = 0;
    for (u, size) in loaded(&b).await {
        assert!(
            u.starts_with(&host),
            "the page loaded {u} from another host"
        );
        if !u.contains("/assets/icons/") && !u.contains("/logos/") {
            bytes += size;
        }
    }
    eprintln!("payment page in Chromium: HTML + CSS + JS = {bytes} bytes");
    assert!(bytes > 0 && bytes < 100 * 1024, "{bytes} bytes");

    // A partial payment from the test panel: the remaining amount is shown.
    b.click("#sim-partial").await;
    b.find("#partial").await;
    let notice = b.text("#partial").await;
    assert!(notice.contains("Send the remaining 12.5 USDT"), "{notice}");
    assert_eq!(b.text("#amount").await, "12.5");
    b.screenshot(&shots, "03-partial-desktop").await;
    b.resize(390, 844).await;
    b.screenshot(&shots, "04-partial-phone").await;

    // The rest: paid, with the way back to the shop.
    b.click("#sim-full").await;
    b.find(".outcome.ok").await;
    assert!(b.text("#status").await.contains("Payment received"));
    let back = b
        .execute("return document.getElementById('return').href;")
        .await;
    let back = back.as_str().unwrap();
    assert!(
        back.starts_with("https://moonlight.example/thanks?from=kassa&invoice_uuid=INV-"),
        "{back}"
    );
    assert!(back.contains("order_id=A-2002"), "{back}");
    b.screenshot(&shots, "05-paid-phone").await;
    b.resize(1280, 900).await;
    b.screenshot(&shots, "06-paid-desktop").await;
    b.quit().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_status_follows_payments_within_two_seconds() {
    if browser_skipped() {
        return;
    }
    let app = TestApp::spawn(kassa_store::Engine::Sqlite).await;
    let s = framed_shop(&app, "owner@live.example").await;
    let inv = s
        .create(
            40.0,
            json!({"add_fields": {"cryptocurrency": "USDT_TRC20"}}),
        )
        .await;
    let uuid = inv["uuid"].as_str().unwrap().to_owned();
    let b = Browser::start(390, 844).await;
    b.goto(&format!("{}/pay/{}", app.base, bare(&inv["uuid"])))
        .await;
    b.find("#address").await;
    // Let the page settle into its polling rhythm first.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let within = |what: &'static str, css: &'static str| {
        let b = &b;
        async move {
            let start = Instant::now();
            while !b.exists(css).await {
                assert!(
                    start.elapsed() < Duration::from_secs(2),
                    "{what}: not shown within 2 s"
                );
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            eprintln!(
                "live status: {what} shown after {} ms",
                start.elapsed().as_millis()
            );
        }
    };
    // Seen, unconfirmed.
    s.pay_ok(&uuid, json!({"amount": "10", "confirmed": false}))
        .await;
    within("payment seen", "#confirmations").await;
    assert!(b.text("#status").await.contains("confirming 0/1"));
    let shots = artifacts("pay");
    b.screenshot(&shots, "07-seen-phone").await;
    assert_eq!(b.text("#amount").await, "30", "the rest is still asked for");
    // The rest arrives, unconfirmed: nothing more is due, so nothing more is asked — no amount,
    // address, QR code or "pay in full" to pay twice with; what arrived is said instead.
    s.pay_ok(&uuid, json!({"amount": "30", "confirmed": false}))
        .await;
    within("covered", "#covered").await;
    let covered = b.text("#covered").await;
    assert!(
        covered.contains("40 USDT received — nothing more to send"),
        "{covered}"
    );
    assert!(b.text("#status").await.contains("confirming 0/1"));
    for gone in [
        "#amount",
        "#address",
        ".qr",
        "#countdown",
        "#sim-full",
        "button.copy",
    ] {
        assert!(
            !b.exists(gone).await,
            "{gone} is still shown while nothing is due"
        );
    }
    b.screenshot(&shots, "08-covered-phone").await;
    // Paid.
    s.pay_ok(&uuid, json!({"amount": "40"})).await;
    within("paid", ".outcome.ok").await;
    b.quit().await;
    app.stop().await;
}
