//! Projects in the dashboard: creation and settings with errors next to the fields, the logo
//! (decoded, re-encoded, served with `nosniff`; SVG, junk and oversized files refused), test
//! and live mode, archiving, the integration page (keys, working snippets, test postback,
//! regeneration behind re-authentication) and staff limited to some projects.

use std::time::Duration;

use kassa_core::account::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::engine_test;
use crate::support::TestApp;
use crate::support::accounts::{PASSWORD, owner, project_with_settings, sign_in, staff};
use crate::support::receiver::Receiver;
use crate::support::web::{Resp, Session, unescape};

/// The text between `start` and the next `<`.
fn between(body: &str, start: &str) -> String {
    let i = body
        .find(start)
        .unwrap_or_else(|| panic!("{start:?} not on the page:\n{body}"))
        + start.len();
    body[i..].split('<').next().unwrap().to_owned()
}

/// The field error shown next to `field`, if any.
fn field_error(r: &Resp, field: &str) -> Option<String> {
    let marker = format!("id=\"e-{field}\">");
    r.body
        .contains(&marker)
        .then(|| unescape(&between(&r.body, &marker)))
}

/// Creates a project through the form and returns (id, API key).
async fn create_through_form(s: &Session, name: &str, notify_url: &str) -> (i64, String) {
    let r = s
        .submit(
            "/projects/new",
            &[("name", name), ("site_url", ""), ("notify_url", notify_url)],
        )
        .await;
    // Created: a redirect (a refresh never posts again) to the page showing the key once.
    let r = s.follow(&r).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let id = between(&r.body, "href=\"/projects/")
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    (id, between(&r.body, "id=\"api-key\" class=\"secret\">"))
}

async fn api(app: &TestApp, key: &str, path: &str, body: Value) -> (StatusCode, Value) {
    let r = app
        .client
        .post(format!("{}{path}", app.base))
        .header("authorization", format!("Token {key}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status(), r.json().await.unwrap())
}

async fn shop_id(app: &TestApp, id: i64) -> String {
    kassa_store::projects::by_id(
        &mut app.state.db.conn().await.unwrap(),
        kassa_core::ProjectId::new(id),
    )
    .await
    .unwrap()
    .shop_id
}

/// Every settings field, valid.
fn settings_form<'a>(overrides: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut f = vec![
        ("name", "Corner Shop"),
        ("description", "Coffee beans"),
        ("site_url", "https://corner.example"),
        ("success_url", "https://corner.example/thanks"),
        ("fail_url", "https://corner.example/sorry"),
        ("notify_url", "https://corner.example/postback"),
        ("postback_format", "form"),
        ("brand_color", "#AA3300"),
        ("page_language", "ru"),
        ("service_fee_side", "client"),
        ("transfer_fee_side", "merchant"),
        ("invoice_lifetime_minutes", "90"),
        ("tolerance_kind", "usd"),
        ("tolerance_value", "0.50"),
        ("email_required", "on"),
        ("currencies", "USDT_TRC20"),
        ("currencies", "BTC"),
    ];
    for (k, v) in overrides {
        f.retain(|(n, _)| n != k);
        f.push((k, v));
    }
    f
}

engine_test!(
    async fn projects_are_created_and_edited_with_errors_next_to_the_fields(engine) {
        let app = TestApp::spawn(engine).await;
        let o = owner(&app, "o@shop.example").await;
        let s = sign_in(&app, "o@shop.example").await;

        let r = s.submit("/projects/new", &[("name", "  "), ("site_url", "corner.example"), ("notify_url", "ftp://x")]).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(field_error(&r, "name").as_deref(), Some("Give the project a name."));
        assert_eq!(field_error(&r, "site_url").as_deref(), Some("Enter a full address starting with https:// or http://."));
        assert_eq!(field_error(&r, "notify_url").as_deref(), Some("Enter a full address starting with https:// or http://."));
        assert!(r.has("value=\"corner.example\""), "what was typed is kept");
        let merchant = kassa_store::accounts::user_by_id(&mut app.state.db.conn().await.unwrap(), o).await.unwrap().merchant_id;
        assert!(kassa_store::projects::of_merchant(&mut app.state.db.conn().await.unwrap(), merchant).await.unwrap().is_empty(), "nothing created");

        let (id, _) = create_through_form(&s, "Corner", "").await;
        let page = s.get(&format!("/projects/{id}")).await;
        assert!(page.has("Test mode") || page.has("test mode"), "a new project starts in test mode");

        // Every setting is saved.
        let r = s.post(&format!("/projects/{id}"), &settings_form(&[])).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let p = kassa_store::projects::by_id(&mut app.state.db.conn().await.unwrap(), kassa_core::ProjectId::new(id)).await.unwrap();
        let st = &p.settings;
        assert_eq!(
            (st.name.as_str(), st.description.as_str(), st.site_url.as_str(), st.success_url.as_str(), st.fail_url.as_str(), st.notify_url.as_str()),
            ("Corner Shop", "Coffee beans", "https://corner.example", "https://corner.example/thanks", "https://corner.example/sorry", "https://corner.example/postback")
        );
        assert_eq!((st.postback_format.as_str(), st.brand_color.as_str(), st.page_language.code()), ("form", "#aa3300", "ru"));
        assert_eq!((st.service_fee_side.as_str(), st.transfer_fee_side.as_str(), st.invoice_lifetime_minutes), ("client", "merchant", 90));
        assert_eq!((st.tolerance, st.email_required), (kassa_core::invoice::Tolerance::Usd("0.5".parse().unwrap()), true));
        assert_eq!(st.currencies, ["USDT_TRC20", "BTC"]);
        assert!(p.test_mode);

        // Mistakes: each shown next to its field, nothing saved.
        s.get(&format!("/projects/{id}")).await;
        let bad = settings_form(&[
            ("name", ""),
            ("success_url", "javascript:alert(1)"),
            ("postback_format", "xml"),
            ("brand_color", "red"),
            ("invoice_lifetime_minutes", "0"),
            ("tolerance_kind", "percent"),
            ("tolerance_value", "150"),
            ("service_fee_side", "nobody"),
        ]);
        let r = s.post(&format!("/projects/{id}"), &bad).await;
        assert_eq!(r.status, StatusCode::OK);
        for (field, message) in [
            ("name", "Give the project a name."),
            ("success_url", "Enter a full address starting with https:// or http://."),
            ("brand_color", "Use a colour like #3b5bdb."),
            ("invoice_lifetime_minutes", "Enter a number of minutes from 1 to 44640."),
            ("tolerance_value", "Enter a number: a percentage from 0 to 100, or an amount in USD."),
        ] {
            assert_eq!(field_error(&r, field).as_deref(), Some(message), "{field}");
        }
        assert_eq!(field_error(&r, "postback_format").as_deref(), Some("Choose one of the options."));
        assert_eq!(field_error(&r, "service_fee_side").as_deref(), Some("Choose one of the options."));
        let mut no_currency = settings_form(&[]);
        no_currency.retain(|(k, _)| *k != "currencies");
        let r = s.post(&format!("/projects/{id}"), &no_currency).await;
        assert_eq!(field_error(&r, "currencies").as_deref(), Some("Accept at least one currency."));
        let after = kassa_store::projects::by_id(&mut app.state.db.conn().await.unwrap(), kassa_core::ProjectId::new(id)).await.unwrap();
        assert_eq!(after.settings.name, "Corner Shop", "nothing saved");

        // The change is in the activity log with before and after.
        let log = s.get("/activity").await;
        assert!(log.has("Created a project") || log.has("project.created"), "{}", log.body);

        // The saved settings reach the API: lifetime, sides, currencies.
        s.get(&format!("/projects/{id}/integration")).await;
        let key = regenerate(&s, id).await;
        let (status, v) = api(&app, &key, "/v2/invoice/create", json!({"shop_id": shop_id(&app, id).await, "amount": 10})).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        let inv = &v["result"];
        assert_eq!((inv["side_commission"].as_str(), inv["side_commission_cc"].as_str()), (Some("merchant"), Some("client")));
        assert_eq!(inv["currency"]["fullcode"], "USDT_TRC20", "the first accepted currency is shown");
        assert_eq!(inv["is_email_required"], true);
        let (status, v) = api(&app, &key, "/v2/invoice/create", json!({"shop_id": shop_id(&app, id).await, "amount": 10, "add_fields": {"cryptocurrency": "ETH"}})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "ETH is not accepted: {v}");
        assert_eq!(v["result"]["cryptocurrency"], "Currency ETH is not available for this shop.");
    }
);

/// Regenerates the API key from the integration page (signed in recently) and returns it.
async fn regenerate(s: &Session, id: i64) -> String {
    let r = s.post(&format!("/projects/{id}/api-key"), &[]).await;
    assert_eq!(
        r.location.as_deref(),
        Some(format!("/projects/{id}/keys").as_str()),
        "{}",
        r.body
    );
    let page = s.follow(&r).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let key = between(&page.body, "id=\"api-key\" class=\"secret\">");
    // Shown once: a refresh lands on the integration page, which says so.
    let again = s.get(&format!("/projects/{id}/keys")).await;
    assert_eq!(
        again.location.as_deref(),
        Some(format!("/projects/{id}/integration").as_str())
    );
    let again = s.follow(&again).await;
    assert!(
        again.has("The API key was shown once") && !again.has(&key),
        "{}",
        again.body
    );
    key
}

fn png(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbaImage::from_pixel(w, h, image::Rgba([200, 40, 40, 255]));
    let mut out = Vec::new();
    image::DynamicImage::ImageRgba8(img)
        .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

fn jpeg(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_pixel(w, h, image::Rgb([20, 90, 200]));
    let mut out = Vec::new();
    image::DynamicImage::ImageRgb8(img)
        .write_to(
            &mut std::io::Cursor::new(&mut out),
            image::ImageFormat::Jpeg,
        )
        .unwrap();
    out
}

/// Uploads `bytes` as the logo through the settings page's form; returns the flash shown.
async fn upload(s: &Session, id: i64, filename: &str, content_type: &str, bytes: &[u8]) -> String {
    let page = s.get(&format!("/projects/{id}")).await;
    let start = format!("action=\"/projects/{id}/logo?");
    let i = page.body.find(&start).expect("the logo form") + "action=\"".len();
    let action = unescape(page.body[i..].split('"').next().unwrap());
    let boundary = "----kassa-test-boundary-7d3f";
    let mut body = format!("--{boundary}\r\nContent-Disposition: form-data; name=\"logo\"; filename=\"{filename}\"\r\nContent-Type: {content_type}\r\n\r\n").into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let r = s
        .post_bytes(
            &action,
            &format!("multipart/form-data; boundary={boundary}"),
            body,
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let page = s.get(r.location.as_deref().unwrap()).await;
    unescape(&between(&page.body, "role=\"status\">"))
}

engine_test!(
    async fn logos_are_validated_reencoded_and_served_safely(engine) {
        let app = TestApp::spawn(engine).await;
        owner(&app, "o@shop.example").await;
        let s = sign_in(&app, "o@shop.example").await;
        let (id, _) = create_through_form(&s, "Corner", "").await;
        let shop = shop_id(&app, id).await;
        assert_eq!(app.get(&format!("/logos/{shop}.png")).await.status(), StatusCode::NOT_FOUND);

        // A PNG with an HTML payload appended (a polyglot): accepted as an image, payload gone.
        let mut poly = png(800, 200);
        poly.extend_from_slice(b"<html><script>alert(document.cookie)</script></html>");
        assert_eq!(upload(&s, id, "logo.png", "image/png", &poly).await, "The logo has been saved.");
        let r = app.get(&format!("/logos/{shop}.png")).await;
        assert_eq!(r.status(), StatusCode::OK);
        let h = r.headers().clone();
        assert_eq!(h["content-type"], "image/png");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert!(h["content-security-policy"].to_str().unwrap().contains("sandbox"));
        let served = r.bytes().await.unwrap();
        assert!(!served.windows(7).any(|w| w == b"<script"), "re-encoded without the payload");
        let decoded = image::load_from_memory(&served).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (512, 128), "scaled down to 512 px");

        // The API's project object points at it.
        let key = regenerate(&s, id).await;
        let (_, v) = api(&app, &key, "/v2/invoice/create", json!({"shop_id": shop, "amount": 1})).await;
        let logo = v["result"]["project"]["logo"].as_str().unwrap().to_owned();
        assert!(logo.contains(&format!("/logos/{shop}.png")), "{logo}");

        // A JPEG is accepted and stored as PNG.
        assert_eq!(upload(&s, id, "photo.jpg", "image/jpeg", &jpeg(64, 64)).await, "The logo has been saved.");
        let served = app.get(&format!("/logos/{shop}.png")).await.bytes().await.unwrap();
        assert_eq!(image::guess_format(&served).unwrap(), image::ImageFormat::Png);

        // Refusals, with a clear message; the stored logo stays.
        let svg = b"<svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"alert(1)\"><rect width=\"10\" height=\"10\"/></svg>";
        assert_eq!(upload(&s, id, "logo.svg", "image/svg+xml", svg).await, "Only PNG and JPEG images are accepted (SVG is not).");
        assert_eq!(upload(&s, id, "logo.png", "image/png", svg).await, "Only PNG and JPEG images are accepted (SVG is not).", "judged by content, not by name");
        let mut broken = png(100, 100);
        broken.truncate(70);
        assert_eq!(upload(&s, id, "logo.png", "image/png", &broken).await, "The image could not be read. It may be damaged.");
        let mut big = png(10, 10);
        big.resize(2 * 1024 * 1024 + 10, 0);
        assert_eq!(upload(&s, id, "big.png", "image/png", &big).await, "The file is larger than 2 MB.");
        let huge = vec![0u8; 4 * 1024 * 1024];
        assert_eq!(upload(&s, id, "huge.png", "image/png", &huge).await, "The file is larger than 2 MB.");
        assert_eq!(upload(&s, id, "empty.png", "image/png", b"").await, "Choose an image file first.");
        let still = app.get(&format!("/logos/{shop}.png")).await.bytes().await.unwrap();
        assert_eq!(still, served, "refused uploads leave the logo alone");

        // Without the CSRF token the upload is refused.
        let r = s.post_bytes(&format!("/projects/{id}/logo"), "multipart/form-data; boundary=x", b"--x--\r\n".to_vec()).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);

        // Removal.
        s.get(&format!("/projects/{id}")).await;
        let r = s.post(&format!("/projects/{id}/logo/delete"), &[]).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        assert_eq!(app.get(&format!("/logos/{shop}.png")).await.status(), StatusCode::NOT_FOUND);
    }
);

engine_test!(
    async fn going_live_and_archiving_are_explicit_actions(engine) {
        let app = TestApp::spawn(engine).await;
        owner(&app, "o@shop.example").await;
        let s = sign_in(&app, "o@shop.example").await;
        let (id, key) = create_through_form(&s, "Corner", "").await;
        let shop = shop_id(&app, id).await;
        let create = |body: Value| api(&app, &key, "/v2/invoice/create", body);

        let (_, v) = create(json!({"shop_id": shop, "amount": 5})).await;
        assert_eq!(v["result"]["test_mode"], true);
        let before = v["result"]["uuid"].as_str().unwrap().to_owned();

        // Going live is one explicit form (a GET or a wrong value does nothing).
        s.get(&format!("/projects/{id}")).await;
        let r = s.post(&format!("/projects/{id}/mode"), &[("mode", "sideways")]).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        // With no network set up for live payments, going live is refused and the page says
        // what the operator has to configure; the button is disabled.
        let page = s.get(&format!("/projects/{id}")).await;
        assert!(page.has("id=\"go-live\" disabled") && page.has("[chains.ltc] or [chains.btc]"), "{}", page.body);
        let r = s.post(&format!("/projects/{id}/mode"), &[("mode", "live")]).await;
        assert_eq!((r.status, r.location.as_deref()), (StatusCode::SEE_OTHER, Some(format!("/projects/{id}#mode").as_str())));
        let page = s.get(&format!("/projects/{id}")).await;
        assert!(page.has("No network is set up for live payments yet") && !page.has("The project is live."), "{}", page.body);
        assert!(kassa_store::projects::by_id(&mut app.state.db.conn().await.unwrap(), kassa_core::ProjectId::new(id)).await.unwrap().test_mode);
        // A project that went live before its network was taken out of the configuration:
        // only configured networks are offered, and there are none in this build.
        kassa_store::projects::set_test_mode(&mut app.state.db.write().await.unwrap(), kassa_core::ProjectId::new(id), false, app.now()).await.unwrap();
        let (status, v) = create(json!({"shop_id": shop, "amount": 5, "add_fields": {"cryptocurrency": "BTC"}})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
        assert_eq!(v["result"]["cryptocurrency"], "Currency BTC is not available for this shop.");
        let (status, v) = create(json!({"shop_id": shop, "amount": 5})).await;
        assert_eq!((status, &v["result"]["shop_id"]), (StatusCode::BAD_REQUEST, &json!("No cryptocurrency is available for this shop yet.")), "{v}");
        // A test invoice made before going live stays a test invoice, payable by simulation.
        let (status, v) = api(&app, &key, &format!("/api/v1/test-helpers/invoices/{before}/pay"), json!({"amount": "5", "currency": "USDT_TRC20"})).await;
        assert_eq!((status, v["result"]["status"].as_str()), (StatusCode::OK, Some("paid")), "{v}");
        let (_, v) = api(&app, &key, "/v2/invoice/merchant/info", json!({"uuids": [before]})).await;
        assert_eq!((v["result"][0]["test_mode"].as_bool(), v["result"][0]["currency"]["fullcode"].as_str()), (Some(true), Some("USDT_TRC20")));

        // Back to test mode.
        s.get(&format!("/projects/{id}")).await;
        s.post(&format!("/projects/{id}/mode"), &[("mode", "test")]).await;
        let (_, v) = create(json!({"shop_id": shop, "amount": 5})).await;
        assert_eq!(v["result"]["test_mode"], true);

        // Archived: no new invoices; restored: again.
        s.get(&format!("/projects/{id}")).await;
        let r = s.post(&format!("/projects/{id}/archive"), &[]).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        assert!(s.get(&format!("/projects/{id}")).await.has("The project is archived and takes no new invoices."));
        let (status, v) = create(json!({"shop_id": shop, "amount": 5})).await;
        assert_eq!((status, &v["result"]["shop_id"]), (StatusCode::BAD_REQUEST, &json!("The shop is archived.")));
        s.get(&format!("/projects/{id}")).await;
        s.post(&format!("/projects/{id}/archive"), &[]).await;
        assert_eq!(create(json!({"shop_id": shop, "amount": 5})).await.0, StatusCode::OK);

        let log = s.get("/activity").await;
        for entry in ["Archived a project", "Restored a project"] {
            assert!(log.has(entry), "{entry} in the activity log");
        }
    }
);

engine_test!(
    async fn the_integration_page_has_working_snippets_and_sends_test_postbacks(engine) {
        let app = TestApp::spawn(engine).await;
        owner(&app, "o@shop.example").await;
        let s = sign_in(&app, "o@shop.example").await;
        let shop = Receiver::start().await;
        let (id, key) = create_through_form(&s, "Corner", &shop.url).await;
        let shop_id = shop_id(&app, id).await;

        let page = s.get(&format!("/projects/{id}/integration")).await;
        let secret = between(&page.body, "id=\"secret-key\">");
        assert!(!page.has(&key), "the API key is not shown again");
        assert!(page.has(&format!("••••••••{}", &key[key.len() - 4..])), "only its last characters");
        for snippet in ["snip-curl", "snip-python", "snip-php", "snip-js"] {
            let text = unescape(&between(&page.body, &format!("id=\"{snippet}\">")));
            assert!(text.contains(&shop_id), "{snippet} has the shop id");
            assert!(text.contains(&format!("{}/v2/invoice/create", app.state.public_url)), "{snippet} has the URL");
        }
        for snippet in ["snip-python", "snip-php", "snip-js"] {
            assert!(unescape(&between(&page.body, &format!("id=\"{snippet}\">"))).contains(&secret), "{snippet} verifies with the secret");
        }

        // The curl snippet works as shown, once the key is filled in (public_url is the test server).
        let curl = unescape(&between(&page.body, "id=\"snip-curl\">")).replace("YOUR_API_KEY", &key).replace(&*app.state.public_url, &app.base);
        let out = std::process::Command::new("sh").arg("-c").arg(format!("{curl} --silent --show-error")).output().expect("run curl");
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("curl snippet: {e}: {}", String::from_utf8_lossy(&out.stderr)));
        assert_eq!(v["status"], "success", "{v}");
        let uuid = v["result"]["uuid"].as_str().unwrap();
        let made = kassa_store::invoices::by_uuid(&mut app.state.db.conn().await.unwrap(), uuid.trim_start_matches("INV-")).await.unwrap().unwrap();
        assert_eq!((made.order_id.as_str(), made.price.amount_text().as_str()), ("1001", "100"));
        // So does the JavaScript one (Node's fetch).
        let js = unescape(&between(&page.body, "id=\"snip-js\">")).replace("YOUR_API_KEY", &key).replace(&*app.state.public_url, &app.base);
        let create_part = js.split("// Postback handler").next().unwrap();
        let program = format!("(async () => {{ {create_part}; console.log(JSON.stringify(invoice)); }})().catch(e => {{ console.error(e); process.exit(1); }});");
        match std::process::Command::new("node").arg("-e").arg(&program).output() {
            Ok(out) => {
                let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("js snippet: {e}: {}", String::from_utf8_lossy(&out.stderr)));
                assert!(v["uuid"].as_str().unwrap().starts_with("INV-"), "{v}");
            }
            Err(e) => eprintln!("node is not installed ({e}); the JavaScript snippet was not run"),
        }

        // "Send test postback" delivers a signed sample and shows the answer.
        let r = s.post(&format!("/projects/{id}/test-postback"), &[]).await;
        // The answer is shown after a redirect, once: a refresh sends nothing again.
        assert_eq!(r.location.as_deref(), Some(format!("/projects/{id}/integration#test-postback").as_str()));
        let r = s.follow(&r).await;
        assert!(r.has("id=\"test-result\"") && r.has("HTTP 200"), "{}", r.body);
        assert!(!s.get(&format!("/projects/{id}/integration")).await.has("id=\"test-result\""));
        let hits = shop.hits();
        assert_eq!(hits.len(), 1);
        let body = hits[0].json();
        assert_eq!((body["invoice_id"].as_str(), body["invoice_info"]["test_mode"].as_bool()), (Some("TESTTEST"), Some(true)));
        let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
        v.set_required_spec_claims(&["exp"]);
        jsonwebtoken::decode::<Value>(body["token"].as_str().unwrap(), &jsonwebtoken::DecodingKey::from_secret(secret.as_bytes()), &v).expect("signed with the secret shown");
        shop.always(500);
        s.get(&format!("/projects/{id}/integration")).await;
        let r = s.post(&format!("/projects/{id}/test-postback"), &[]).await;
        let r = s.follow(&r).await;
        assert!(r.has("HTTP 500") && r.has("shop is down for maintenance"), "{}", r.body);

        // A new secret signs from now on.
        s.get(&format!("/projects/{id}/integration")).await;
        let r = s.post(&format!("/projects/{id}/secret"), &[]).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        let page = s.get(&format!("/projects/{id}/integration")).await;
        let new_secret = between(&page.body, "id=\"secret-key\">");
        assert_ne!(new_secret, secret);
        assert_eq!(new_secret.len(), secret.len());

        // A new API key needs a fresh sign-in: after five minutes, re-authenticate first.
        app.clock.advance(Duration::from_secs(6 * 60));
        let r = s.post(&format!("/projects/{id}/api-key"), &[]).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        assert_eq!(r.location.as_deref(), Some(format!("/account/reauth?next=%2Fprojects%2F{id}%2Fintegration%3Fresume%3Dnew_key").as_str()));
        let (status, _) = api(&app, &key, "/v2/invoice/create", json!({"shop_id": shop_id, "amount": 1})).await;
        assert_eq!(status, StatusCode::OK, "the old key still works until replaced");
        let back = format!("/projects/{id}/integration?resume=new_key");
        let r = s.submit(r.location.as_deref().unwrap(), &[("password", PASSWORD), ("next", &back)]).await;
        assert_eq!(r.location.as_deref(), Some(back.as_str()));
        // Back on the integration page, the action is offered again: one highlighted button.
        let page = s.follow(&r).await;
        assert!(page.has("Confirmed — now finish what you started:") && page.has(&format!("action=\"/projects/{id}/api-key\"><input type=\"hidden\" name=\"_csrf\"")), "{}", page.body);
        let new_key = regenerate(&s, id).await;
        assert_ne!(new_key, key);
        let (status, v) = api(&app, &key, "/v2/invoice/create", json!({"shop_id": shop_id, "amount": 1})).await;
        assert_eq!((status, &v["detail"]), (StatusCode::UNAUTHORIZED, &json!("Invalid token.")), "the old key stopped working");
        let (status, _) = api(&app, &new_key, "/v2/invoice/create", json!({"shop_id": shop_id, "amount": 1})).await;
        assert_eq!(status, StatusCode::OK);
        assert!(s.get("/activity").await.body.matches("project").count() >= 2);
    }
);

engine_test!(
    async fn staff_limited_to_some_projects_see_only_those(engine) {
        let app = TestApp::spawn(engine).await;
        let o = owner(&app, "o@shop.example").await;
        let a = project_with_settings(&app, o, "Alpha", |_| {}).await;
        let b = project_with_settings(&app, o, "Beta", |_| {}).await;
        let dev = staff(&app, o, "dev@shop.example", Role::Viewer).await;

        // The owner makes them a developer limited to Alpha.
        let s = sign_in(&app, "o@shop.example").await;
        s.get(&format!("/staff/{dev}")).await;
        let alpha = a.id.get().to_string();
        let r = s.post(&format!("/staff/{dev}"), &[("role", "developer"), ("project", &alpha)]).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);

        let d = sign_in(&app, "dev@shop.example").await;
        let list = d.get("/projects").await;
        assert!(list.has("Alpha") && !list.has("Beta"), "{}", list.body);
        for path in [format!("/projects/{}", a.id), format!("/projects/{}/integration", a.id)] {
            assert_eq!(d.get(&path).await.status, StatusCode::OK, "{path}");
        }
        for path in [format!("/projects/{}", b.id), format!("/projects/{}/integration", b.id)] {
            assert_eq!(d.get(&path).await.status, StatusCode::NOT_FOUND, "{path}");
        }
        d.get(&format!("/projects/{}", a.id)).await;
        for path in [format!("/projects/{}/mode", b.id), format!("/projects/{}/archive", b.id), format!("/projects/{}/secret", b.id)] {
            let r = d.post(&path, &[("mode", "live")]).await;
            assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
        }
        let beta = kassa_store::projects::by_id(&mut app.state.db.conn().await.unwrap(), b.id).await.unwrap();
        assert!(beta.test_mode && beta.archived_at.is_none(), "Beta untouched");
        // Unlimited again: both.
        s.get(&format!("/staff/{dev}")).await;
        s.post(&format!("/staff/{dev}"), &[("role", "viewer")]).await;
        let list = d.get("/projects").await;
        assert!(list.has("Alpha") && list.has("Beta"));
    }
);

engine_test!(
    async fn the_activity_log_filters_every_area_and_by_project(engine) {
        let app = TestApp::spawn(engine).await;
        owner(&app, "o@shop.example").await;
        let s = sign_in(&app, "o@shop.example").await;
        let (a, key_a) = create_through_form(&s, "Alpha", "").await;
        let (b, _) = create_through_form(&s, "Beta", "").await;
        s.get(&format!("/projects/{b}/integration")).await;
        s.post(&format!("/projects/{b}/secret"), &[]).await;
        let (_, inv) = api(&app, &key_a, "/v2/invoice/create", json!({"shop_id": shop_id(&app, a).await, "amount": 5})).await;
        let uuid = inv["result"]["uuid"].as_str().unwrap().trim_start_matches("INV-").to_owned();
        s.get(&format!("/projects/{a}/invoices/{uuid}")).await;
        let r = s.post(&format!("/projects/{a}/invoices/{uuid}/cancel"), &[]).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);

        // Every area that is logged can be chosen, and each project.
        let log = s.get("/activity").await;
        for area in ["Account and security", "Staff", "Projects and keys", "Invoices", "Withdrawals and addresses", "Payment exports", "Balance exports"] {
            assert!(log.has(&format!(">{area}</option>")), "no {area:?} area: {}", log.body);
        }
        assert!(log.has(&format!("<option value=\"{a}\">Alpha</option>")) && log.has(&format!("<option value=\"{b}\">Beta</option>")));
        let invoices = s.get("/activity?area=invoices").await;
        assert!(invoices.has("Cancelled an invoice") && !invoices.has("Created a project"), "{}", invoices.body);
        let projects = s.get("/activity?area=projects").await;
        assert!(projects.has("Created a project") && projects.has("Made a new secret key") && !projects.has("Cancelled an invoice"));
        // One project: its own changes and its invoices', not the other project's.
        let alpha = s.get(&format!("/activity?project={a}")).await;
        assert!(alpha.has("Created a project") && alpha.has("Cancelled an invoice") && !alpha.has("Made a new secret key"), "{}", alpha.body);
        let beta = s.get(&format!("/activity?project={b}&area=projects")).await;
        assert!(beta.has("Made a new secret key") && !beta.has("Cancelled an invoice"), "{}", beta.body);
        // A project of another merchant matches nothing.
        let other = s.get("/activity?project=999999").await;
        assert!(other.has("Nothing matches these filters."), "{}", other.body);
        app.stop().await;
    }
);
