//! The hardening a security review asked for: who the client is behind a proxy (and so who
//! may read `/metrics`), HSTS, rate limits without window boundaries, a lockout a stranger
//! cannot turn against the owner, e-mail addresses the mailer can deliver, and SSRF checks
//! when a notification URL is saved.

use std::time::Duration;

use kassa_core::Timestamp;
use kassa_service::auth::limits::{LOGIN_FAILURES_PER_ACCOUNT, SIGNUP_PER_IP};
use reqwest::StatusCode;
use serde_json::json;

use crate::engine_test;
use crate::support::TestApp;
use crate::support::accounts::{PASSWORD, owner, sign_in, signed_in};
use crate::support::api::shop;
use crate::support::web::{Resp, Session, unescape};

fn field_error(r: &Resp, field: &str) -> Option<String> {
    let marker = format!("id=\"e-{field}\">");
    let start = r.body.find(&marker)? + marker.len();
    let end = r.body[start..].find('<')? + start;
    Some(unescape(&r.body[start..end]))
}

engine_test!(
    async fn metrics_behind_a_proxy_need_the_token_unless_the_real_client_is_local(engine) {
        let app = TestApp::spawn_with(engine, |s| {
            s.server.trust_forwarded_for = true;
            s.server.metrics_token = kassa_core::secret::SecretString::new("s3cret-metrics");
        })
        .await;
        let metrics = |xff: Option<&'static str>, token: Option<&'static str>| {
            let mut r = app.client.get(format!("{}/metrics", app.base));
            if let Some(x) = xff {
                r = r.header("X-Forwarded-For", x);
            }
            if let Some(t) = token {
                r = r.header("Authorization", format!("Bearer {t}"));
            }
            async move { r.send().await.unwrap().status() }
        };
        // The proxy (on loopback) forwards an internet client: no metrics without the token.
        assert_eq!(metrics(Some("8.8.8.8"), None).await, StatusCode::NOT_FOUND);
        assert_eq!(metrics(Some("10.0.0.1, 8.8.8.8"), None).await, StatusCode::NOT_FOUND);
        assert_eq!(metrics(Some("8.8.8.8"), Some("wrong")).await, StatusCode::NOT_FOUND);
        assert_eq!(metrics(Some("8.8.8.8"), Some("s3cret-metrics")).await, StatusCode::OK);
        // A client the proxy saw on loopback (a scraper on the same machine) is local.
        assert_eq!(metrics(Some("127.0.0.1"), None).await, StatusCode::OK);
        // Without the header the socket peer decides.
        assert_eq!(metrics(None, None).await, StatusCode::OK);
        app.stop().await;

        // Without trust in the proxy, the header is ignored: the peer is loopback.
        let app = TestApp::spawn(engine).await;
        let r = app.client.get(format!("{}/metrics", app.base)).header("X-Forwarded-For", "8.8.8.8").send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        app.stop().await;
    }
);

engine_test!(
    async fn hsts_is_sent_when_the_public_url_is_https(engine) {
        let app = TestApp::spawn_with(engine, |s| s.server.public_url = "https://pay.shop.example".into()).await;
        for path in ["/healthz", "/login", "/v2/invoice/create", "/pay/ZZZZZZZZ", "/nowhere"] {
            let r = app.client.get(format!("{}{path}", app.base)).send().await.unwrap();
            assert_eq!(
                r.headers().get("strict-transport-security").and_then(|v| v.to_str().ok()),
                Some("max-age=31536000"),
                "{path}"
            );
        }
        app.stop().await;
        let app = TestApp::spawn(engine).await;
        let r = app.get("/healthz").await;
        assert!(r.headers().get("strict-transport-security").is_none(), "not over plain HTTP");
        app.stop().await;
    }
);

engine_test!(
    async fn rate_limits_have_no_window_boundary_to_double_up_on(engine) {
        let app = TestApp::spawn(engine).await;
        let db = &app.state.db;
        // Sign-ups: 10 an hour per address. Start a second before a whole hour, where a
        // clock-aligned window would end and a fresh one would allow ten more at once.
        let hour = 3_600_000_000i64;
        let t0 = Timestamp::from_micros((app.now().as_micros() / hour + 1) * hour - 1_000_000);
        for i in 0..10 {
            assert!(SIGNUP_PER_IP.hit(db, "203.0.113.9", t0).await.unwrap().is_ok(), "hit {i}");
        }
        let after_boundary = t0.saturating_add(Duration::from_secs(2));
        let refused = SIGNUP_PER_IP.hit(db, "203.0.113.9", after_boundary).await.unwrap();
        let wait = refused.expect_err("no fresh allowance after the boundary").0;
        assert!(wait > Duration::from_secs(300) && wait <= Duration::from_secs(360), "{wait:?}");
        // The bucket refills steadily: one more every six minutes.
        let later = t0.saturating_add(Duration::from_secs(6 * 60));
        assert!(SIGNUP_PER_IP.hit(db, "203.0.113.9", later).await.unwrap().is_ok());
        assert!(SIGNUP_PER_IP.hit(db, "203.0.113.9", later).await.unwrap().is_err());
        // In any hour, never more than ten.
        let mut admitted = 11;
        let mut t = later;
        for _ in 0..120 {
            t = t.saturating_add(Duration::from_secs(30));
            if SIGNUP_PER_IP.hit(db, "203.0.113.9", t).await.unwrap().is_ok() {
                admitted += 1;
            }
        }
        // t0 .. t0+66 min: 10 at once, then one per 6 min.
        assert_eq!(admitted, 10 + 1 + 10, "admitted {admitted}");
        // Other keys are their own buckets; `check` counts nothing.
        assert!(SIGNUP_PER_IP.check(db, "198.51.100.1", t).await.unwrap().is_ok());
        assert!(LOGIN_FAILURES_PER_ACCOUNT.check(db, "someone", t).await.unwrap().is_ok());
        app.stop().await;
    }
);

engine_test!(
    async fn a_stranger_cannot_lock_the_owner_out(engine) {
        // Behind a proxy, so each browser has its own address (the per-address limit is not
        // what this test is about).
        let app = TestApp::spawn_with(engine, |s| s.server.trust_forwarded_for = true).await;
        owner(&app, "owner@shop.example").await;
        // The owner's browser signs in once (and so becomes a known device), then signs out.
        let laptop = Session::new(&app.base).seen_at("198.51.100.7");
        let r = laptop.submit("/login", &[("email", "owner@shop.example"), ("password", PASSWORD)]).await;
        assert_eq!(r.location.as_deref(), Some("/dashboard"));
        assert!(laptop.cookie("kassa_device").is_some(), "a device cookie after sign-in");
        laptop.get("/dashboard").await;
        laptop.post("/logout", &[]).await;
        assert!(!signed_in(&laptop).await);

        // A stranger guesses: after ten wrong passwords the account is locked for them,
        // the right password included.
        let stranger = Session::new(&app.base).seen_at("203.0.113.66");
        for i in 0..10 {
            let r = stranger.submit("/login", &[("email", "owner@shop.example"), ("password", &format!("guess number {i}"))]).await;
            assert_eq!(r.status, StatusCode::OK);
        }
        let r = stranger.submit("/login", &[("email", "owner@shop.example"), ("password", PASSWORD)]).await;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
        // A new browser is locked out too.
        let r = Session::new(&app.base).seen_at("203.0.113.67").submit("/login", &[("email", "owner@shop.example"), ("password", PASSWORD)]).await;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);

        // The owner's browser still signs in, with the password.
        let r = laptop.submit("/login", &[("email", "owner@shop.example"), ("password", PASSWORD)]).await;
        assert_eq!(r.location.as_deref(), Some("/dashboard"), "{}", r.body);
        laptop.get("/dashboard").await;
        laptop.post("/logout", &[]).await;
        // …but guessing from it is limited on its own count.
        for i in 0..10 {
            let r = laptop.submit("/login", &[("email", "owner@shop.example"), ("password", &format!("typo {i}"))]).await;
            assert_eq!(r.status, StatusCode::OK);
        }
        let r = laptop.submit("/login", &[("email", "owner@shop.example"), ("password", PASSWORD)]).await;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);

        // A device cookie of one account does not unlock another, nor does a forged one.
        owner(&app, "other@shop.example").await;
        for i in 0..10 {
            stranger.submit("/login", &[("email", "other@shop.example"), ("password", &format!("guess {i}"))]).await;
        }
        let device = laptop.cookie("kassa_device").unwrap();
        let forged = Session::new(&app.base).seen_at("203.0.113.68");
        forged.set_cookie("kassa_device", &device.replace('.', "x."));
        let r = forged.submit("/login", &[("email", "owner@shop.example"), ("password", PASSWORD)]).await;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "a forged cookie");
        let r = laptop.submit("/login", &[("email", "other@shop.example"), ("password", PASSWORD)]).await;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "another account's cookie");
        app.stop().await;
    }
);

engine_test!(
    async fn undeliverable_addresses_are_refused_where_they_are_typed(engine) {
        let app = TestApp::spawn(engine).await;
        let shop = shop(&app, "owner@shop.example", "").await;
        let r = shop
            .post("/v2/invoice/create", json!({"shop_id": shop.shop_id, "amount": 10, "add_fields": {"email_to_send": "😀@example.com"}}))
            .await;
        r.assert_field_error("email_to_send", "Enter a valid email address.");
        let r = shop.post("/v2/invoice/create", json!({"shop_id": shop.shop_id, "amount": 10, "email": "пользователь@example.com"})).await;
        r.assert_field_error("email", "Enter a valid email address.");
        // An internationalised domain is kept in the form every mail server takes.
        let created = shop.create(10.0, json!({"email": "Payer@Магазин.рф"})).await;
        let row = crate::support::api::stored_invoice(&app, created["uuid"].as_str().unwrap()).await;
        assert_eq!(row.email, "payer@xn--80aairftm.xn--p1ai");

        // The payment page: the error next to the field.
        let created = shop.create(10.0, json!({})).await;
        let id = created["uuid"].as_str().unwrap().trim_start_matches("INV-").to_owned();
        let r = app.client.post(format!("{}/pay/{id}", app.base)).form(&[("currency", "BTC"), ("email", "😀@example.com")]).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(r.text().await.unwrap().contains("id=\"e-email\""));

        // The dashboard: inviting staff.
        let s = sign_in(&app, "owner@shop.example").await;
        s.get("/staff").await;
        let r = s.post("/staff/invite", &[("email", "😀@example.com"), ("role", "viewer")]).await;
        assert!(field_error(&r, "email").is_some(), "{}", r.body);
        app.stop().await;
    }
);

engine_test!(
    async fn private_notification_urls_are_refused_when_saved(engine) {
        let app = TestApp::spawn_with(engine, |s| s.server.allow_private_targets = false).await;
        owner(&app, "o@shop.example").await;
        let s = sign_in(&app, "o@shop.example").await;
        for url in [
            "http://127.0.0.1:9/hook",
            "http://localhost./hook",
            "http://[::ffff:0:7f00:1]/",
            "http://[64:ff9b::a9fe:a9fe]/latest/meta-data",
            "http://169.254.169.254/",
            "http://10.1.2.3/",
        ] {
            let r = s.submit("/projects/new", &[("name", "Shop"), ("site_url", ""), ("notify_url", url)]).await;
            let e = field_error(&r, "notify_url").unwrap_or_else(|| panic!("{url} accepted: {}", r.body));
            assert!(e.contains("private network"), "{url}: {e}");
        }
        // A public literal address and a name that does not resolve here are accepted; the
        // guarded client still checks every connection when sending.
        for url in ["http://8.8.8.8/hook", "https://shop.invalid/postback"] {
            let r = s.submit("/projects/new", &[("name", "Shop"), ("site_url", ""), ("notify_url", url)]).await;
            assert_eq!(r.status, StatusCode::SEE_OTHER, "{url} accepted: {}", r.body);
        }
        app.stop().await;
    }
);
