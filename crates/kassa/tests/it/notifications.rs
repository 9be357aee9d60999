//! Notifications on both engines, with a real SMTP listener and a local fake of the Telegram
//! Bot API that speaks its protocol: linking a chat through the deep link; a paid invoice
//! reaching e-mail, Telegram and the center once each (even when its fan-out runs again);
//! preferences respected; a staff member without the balance section gets no withdrawal
//! events; a 429 retried after its `retry_after`; a 403 unlinking the chat; a burst of 50
//! payments becoming a summary. The bell and the preferences page in Chromium.

use std::time::Duration;

use kassa_core::account::Role;
use kassa_store::notifications as store;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::engine_test;
use crate::support::accounts::{PASSWORD, sign_in, staff};
use crate::support::api::{Shop, shop};
use crate::support::smtp::SmtpSink;
use crate::support::telegram::FakeTelegram;
use crate::support::web::Session;
use crate::support::{TestApp, wait_until};

const TOKEN: &str = "123456:TEST-token";
const OWNER: &str = "owner@notify.example";

struct Rig {
    app: TestApp,
    mail: SmtpSink,
    tg: FakeTelegram,
    shop: Shop,
}

async fn rig(engine: kassa_store::Engine) -> Rig {
    rig_with(engine, |_| {}).await
}

async fn rig_with(
    engine: kassa_store::Engine,
    adjust: impl FnOnce(&mut kassa_server::config::Settings),
) -> Rig {
    let mail = SmtpSink::start().await;
    let tg = FakeTelegram::start(TOKEN).await;
    let (smtp, api) = (mail.url(), tg.url());
    let app = TestApp::spawn_with(engine, |s| {
        s.mail.smtp_url = kassa_core::secret::SecretString::new(smtp);
        s.telegram.bot_token = kassa_core::secret::SecretString::new(TOKEN);
        s.telegram.bot_username = "kassa_test_bot".into();
        s.telegram.api_url = api;
        adjust(s);
    })
    .await;
    let shop = shop(&app, OWNER, "").await;
    Rig {
        app,
        mail,
        tg,
        shop,
    }
}

/// Links `s`'s person to Telegram chat `chat` through the page's deep link and the bot.
async fn link_telegram(r: &Rig, s: &Session, chat: i64) {
    s.get("/account/notifications").await;
    let page = s.post("/account/notifications/telegram", &[]).await;
    let link = crate::support::web::extract(&page.body, "id=\"tg-link\" href=\"")
        .map(|l| l.split('"').next().unwrap().to_owned())
        .expect("a deep link on the page");
    let token = link
        .strip_prefix("https://t.me/kassa_test_bot?start=")
        .expect("the bot's link")
        .to_owned();
    r.tg.push_message(chat, "owner", &format!("/start {token}"));
    wait_until(10, "the chat linked", || async {
        r.tg.sent()
            .iter()
            .any(|m| m.chat_id == chat && m.text.contains("Linked"))
    })
    .await;
    assert!(
        r.tg.get_updates_calls() >= 1,
        "Kassa reads the bot's updates by long polling"
    );
    // The same link works once.
    r.tg.push_message(chat + 1, "mallory", &format!("/start {token}"));
    wait_until(10, "the second use refused", || async {
        r.tg.sent()
            .iter()
            .any(|m| m.chat_id == chat + 1 && m.text.contains("expired or was used"))
    })
    .await;
}

/// A test invoice of `usd` paid in full; its public id.
async fn paid(r: &Rig, usd: f64) -> String {
    let inv = r
        .shop
        .create(usd, json!({"add_fields": {"cryptocurrency": "USDT_TRC20"}}))
        .await;
    let uuid = inv["uuid"].as_str().unwrap().to_owned();
    r.shop
        .pay_ok(&uuid, json!({"amount": format!("{usd}")}))
        .await;
    uuid
}

fn mails_about(r: &Rig, to: &str, needle: &str) -> usize {
    r.mail
        .to(to)
        .iter()
        .filter(|m| m.subject.contains(needle))
        .count()
}

async fn user_id(r: &Rig, email: &str) -> kassa_core::UserId {
    let e = kassa_core::account::Email::parse(email).unwrap();
    kassa_store::accounts::user_by_email(&mut r.app.state.db.conn().await.unwrap(), &e)
        .await
        .unwrap()
        .unwrap()
        .id
}

engine_test!(
    async fn a_paid_invoice_reaches_email_telegram_and_the_center_once_each(engine) {
        let r = rig(engine).await;
        let s = sign_in(&r.app, OWNER).await;
        link_telegram(&r, &s, 555).await;
        let owner = user_id(&r, OWNER).await;
        assert_eq!(store::chat_of(&mut r.app.state.db.conn().await.unwrap(), owner).await.unwrap(), Some(555));
        assert!(s.get("/account/notifications").await.has("Linked to Telegram chat 555"));

        let uuid = paid(&r, 25.0).await;
        r.app.drain_jobs().await;
        let subject = format!("Invoice {uuid} paid");
        assert_eq!(mails_about(&r, OWNER, &subject), 1, "{:?}", r.mail.to(OWNER).iter().map(|m| &m.subject).collect::<Vec<_>>());
        let tg: Vec<_> = r.tg.sent().into_iter().filter(|m| m.chat_id == 555 && m.text.contains(&uuid)).collect();
        assert_eq!(tg.len(), 1, "{tg:?}");
        assert_eq!(tg[0].parse_mode, "HTML");
        assert!(tg[0].text.starts_with(&format!("<b>Invoice {uuid} paid (test)</b>")), "{}", tg[0].text);
        let center = s.get("/notifications").await;
        assert_eq!(center.body.matches(&format!("Invoice {uuid} paid")).count(), 1, "{}", center.body);
        let count: Value = serde_json::from_str(&s.get("/notifications/count").await.body).unwrap();
        assert!(count["unread"].as_i64().unwrap() >= 1, "{count}");
        assert!(center.has("id=\"bell-count\">"), "the bell shows the count");

        // The fan-out runs again (a crash after it committed): nothing is delivered twice.
        let last: i64 = {
            let mut c = r.app.state.db.conn().await.unwrap();
            kassa_store::sql!(&mut c, |c| sqlx::query_scalar("select max(notification_event_id) from notification_event where kind = 'invoice.paid'").fetch_one(c).await).unwrap()
        };
        assert_eq!(kassa_service::notify::fanout(&r.app.state, last).await.unwrap(), 0);
        r.app.drain_jobs().await;
        assert_eq!(mails_about(&r, OWNER, &subject), 1);
        assert_eq!(r.tg.sent().iter().filter(|m| m.text.contains(&uuid)).count(), 1);
        assert_eq!(s.get("/notifications").await.body.matches(&format!("Invoice {uuid} paid")).count(), 1);
        // No secret in any message: neither the API key nor the secret key nor the bot token.
        for text in r.mail.all().iter().map(|m| m.text.clone()).chain(r.tg.sent().into_iter().map(|m| m.text)) {
            assert!(!text.contains(&r.shop.key) && !text.contains(&r.shop.secret) && !text.contains(TOKEN), "{text}");
        }

        // Read: one, then all; the count follows.
        s.get("/notifications").await;
        let all = s.post("/notifications/read", &[]).await;
        assert_eq!(all.status, StatusCode::SEE_OTHER);
        let count: Value = serde_json::from_str(&s.get("/notifications/count").await.body).unwrap();
        assert_eq!(count["unread"], 0);
        // /stop unlinks.
        r.tg.push_message(555, "owner", "/stop");
        wait_until(10, "the chat unlinked", || async {
            store::chat_of(&mut r.app.state.db.conn().await.unwrap(), owner).await.unwrap().is_none()
        })
        .await;
        r.app.stop().await;
    }
);

engine_test!(
    async fn preferences_and_sections_decide_who_gets_what(engine) {
        let r = rig(engine).await;
        let owner = r.shop.owner;
        staff(&r.app, owner, "dev@notify.example", Role::Developer).await;
        staff(&r.app, owner, "viewer@notify.example", Role::Viewer).await;
        let s = sign_in(&r.app, OWNER).await;
        // The owner turns e-mail off for paid invoices (everything else stays as it is).
        let page = s.get("/account/notifications").await;
        assert!(page.has("name=\"on\" value=\"invoice.paid:email\" checked"), "on by default: {}", page.body);
        assert!(page.has("checked disabled aria-label=\"Password, e-mail or 2FA changed: always\""), "security e-mail is forced");
        let mut on: Vec<(&str, String)> = Vec::new();
        for k in kassa_service::notify::KINDS {
            for c in ["app", "email", "telegram"] {
                if !(k.key == "invoice.paid" && c == "email") {
                    on.push(("on", format!("{}:{c}", k.key)));
                }
            }
        }
        let form: Vec<(&str, &str)> = on.iter().map(|(k, v)| (*k, v.as_str())).collect();
        assert_eq!(s.post("/account/notifications", &form).await.status, StatusCode::SEE_OTHER);
        let page = s.get("/account/notifications").await;
        assert!(page.has("name=\"on\" value=\"invoice.paid:email\" aria-label"), "now off: {}", page.body);

        let uuid = paid(&r, 30.0).await;
        r.app.drain_jobs().await;
        assert_eq!(mails_about(&r, OWNER, &uuid), 0, "the owner turned it off");
        assert!(s.get("/notifications").await.has(&format!("Invoice {uuid} paid")), "the center still has it");
        // Staff who may see payments get it by e-mail by default.
        assert_eq!(mails_about(&r, "dev@notify.example", &uuid), 1);
        assert_eq!(mails_about(&r, "viewer@notify.example", &uuid), 1);

        // A withdrawal event: the viewer (balance section) gets it, the developer does not.
        let merchant = r.shop.row(&r.app).await.merchant_id;
        let mut tx = r.app.state.db.begin().await.unwrap();
        kassa_service::notify::emit(
            &mut tx,
            &kassa_service::notify::Event {
                merchant,
                kind: "withdrawal.completed",
                project: None,
                user: None,
                params: json!({"withdrawal": "WD-TESTTEST", "amount": "0.5", "currency": "LTC", "to": "ltc1qdest", "txid": "ab"}),
                link: Some("/balance"),
            },
            r.app.now(),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        r.app.drain_jobs().await;
        assert_eq!(mails_about(&r, "viewer@notify.example", "WD-TESTTEST"), 1);
        assert_eq!(mails_about(&r, "dev@notify.example", "WD-TESTTEST"), 0, "no balance section, no withdrawal events");
        assert_eq!(mails_about(&r, OWNER, "WD-TESTTEST"), 1);
        let dev = sign_in(&r.app, "dev@notify.example").await;
        assert!(!dev.get("/notifications").await.has("WD-TESTTEST"));
        assert!(!dev.get("/account/notifications").await.has("withdrawal.completed"), "not offered either");

        // A regenerated API key: people with the API-keys section, always by e-mail; the new
        // key is in no message.
        let project = r.shop.row(&r.app).await;
        let key = kassa_service::projects::regenerate_api_key(&r.app.state, &project, &kassa_service::audit::Actor::operator())
            .await
            .unwrap();
        r.app.drain_jobs().await;
        assert_eq!(mails_about(&r, "dev@notify.example", "API key regenerated"), 1);
        assert_eq!(mails_about(&r, "viewer@notify.example", "API key regenerated"), 0);
        assert!(r.mail.all().iter().all(|m| !m.text.contains(&key)));
        let mail = r.mail.to(OWNER).into_iter().find(|m| m.subject.contains("API key regenerated")).expect("the owner told");
        assert!(mail.text.contains("Shop"), "{}", mail.text);

        // A security change reaches only its person, by e-mail whatever they chose.
        s.get("/account/password").await;
        let changed = s
            .post("/account/password", &[("current", PASSWORD), ("password", "a brand new pass phrase"), ("password_repeat", "a brand new pass phrase")])
            .await;
        assert_eq!(changed.status, StatusCode::SEE_OTHER, "{}", changed.body);
        r.app.drain_jobs().await;
        assert_eq!(mails_about(&r, OWNER, "Your password was changed"), 1);
        assert_eq!(mails_about(&r, "viewer@notify.example", "Your password was changed"), 0);
        r.app.stop().await;
    }
);

engine_test!(
    async fn telegram_429_is_retried_after_its_time_and_403_unlinks(engine) {
        let r = rig(engine).await;
        let s = sign_in(&r.app, OWNER).await;
        link_telegram(&r, &s, 777).await;
        let owner = user_id(&r, OWNER).await;
        let sent_for = |uuid: &str| r.tg.sent().iter().filter(|m| m.chat_id == 777 && m.text.contains(uuid)).count();

        r.tg.fail_next_send(429, Some(5));
        let first = paid(&r, 10.0).await;
        r.app.drain_jobs().await;
        assert_eq!(sent_for(&first), 0, "refused with 429");
        r.app.clock.advance(Duration::from_secs(4));
        r.app.drain_jobs().await;
        assert_eq!(sent_for(&first), 0, "not before retry_after");
        r.app.clock.advance(Duration::from_secs(2));
        r.app.drain_jobs().await;
        assert_eq!(sent_for(&first), 1, "sent once retry_after passed");
        let codes: Vec<u16> = r.tg.attempts().iter().map(|(_, c)| *c).collect();
        assert!(codes.windows(2).any(|w| w == [429, 200]), "{codes:?}");

        r.tg.fail_next_send(403, None);
        let second = paid(&r, 11.0).await;
        r.app.drain_jobs().await;
        assert_eq!(sent_for(&second), 0);
        assert_eq!(store::chat_of(&mut r.app.state.db.conn().await.unwrap(), owner).await.unwrap(), None, "unlinked");
        assert!(s.get("/notifications").await.has("Telegram unlinked"), "and said so in the center");
        assert!(s.get("/account/notifications").await.has("No Telegram chat is linked"));
        // Later events go by e-mail and the center only.
        let third = paid(&r, 12.0).await;
        r.app.drain_jobs().await;
        assert_eq!(sent_for(&third), 0);
        assert_eq!(mails_about(&r, OWNER, &third), 1);
        r.app.stop().await;
    }
);

engine_test!(
    async fn a_burst_of_50_payments_becomes_a_summary(engine) {
        let r = rig(engine).await;
        let s = sign_in(&r.app, OWNER).await;
        link_telegram(&r, &s, 999).await;
        let before_mail = r.mail.to(OWNER).len();
        let before_tg = r.tg.sent().len();
        for i in 0..50 {
            paid(&r, 5.0 + f64::from(i)).await;
        }
        r.app.drain_jobs().await;
        let singles = r.mail.to(OWNER)[before_mail..].iter().filter(|m| m.subject.ends_with("paid (test)")).count();
        assert_eq!(singles, kassa_service::notify::BURST as usize, "the first ten one by one");
        // At the end of the minute: one summary per channel.
        r.app.clock.advance(Duration::from_secs(61));
        r.app.drain_jobs().await;
        let mails = &r.mail.to(OWNER)[before_mail..];
        assert!(mails.len() <= 12, "{} mails", mails.len());
        let digests: Vec<_> = mails.iter().filter(|m| m.subject.contains("more payments in a minute")).collect();
        assert_eq!(digests.len(), 1, "{:?}", mails.iter().map(|m| &m.subject).collect::<Vec<_>>());
        assert!(digests[0].subject.starts_with("40 more payments"), "{}", digests[0].subject);
        let tg = &r.tg.sent()[before_tg..];
        assert_eq!(tg.len(), 11, "ten and a summary");
        assert!(tg.iter().any(|m| m.text.contains("40 more payments")));
        // The center keeps every one.
        let count: Value = serde_json::from_str(&s.get("/notifications/count").await.body).unwrap();
        assert!(count["unread"].as_i64().unwrap() >= 50, "{count}");
        r.app.stop().await;
    }
);

engine_test!(
    async fn a_new_sign_in_and_failing_postbacks_are_told(engine) {
        let r = rig_with(engine, |s| s.server.trust_forwarded_for = true).await;
        // A sign-in from an address the account never used (after a first one) is news; the
        // same address again is not.
        sign_in(&r.app, OWNER).await;
        for _ in 0..2 {
            let s = Session::new(&r.app.base).seen_at("203.0.113.9");
            let done = s.submit("/login", &[("email", OWNER), ("password", PASSWORD)]).await;
            assert_eq!(done.status, StatusCode::SEE_OTHER);
        }
        r.app.drain_jobs().await;
        let news: Vec<_> = r.mail.to(OWNER).into_iter().filter(|m| m.subject == "New sign-in to your account").collect();
        assert_eq!(news.len(), 1, "{news:?}");
        assert!(news[0].text.contains("203.0.113.9"));

        // A shop that never accepts its postbacks: told after an hour, once, and when Kassa
        // gives up (three days later).
        let shop_down = crate::support::receiver::Receiver::start().await;
        shop_down.always(500);
        let project = crate::support::api::shop_of(&r.app, r.shop.owner, &shop_down.url).await;
        let inv = project.create(20.0, json!({"add_fields": {"cryptocurrency": "USDT_TRC20"}})).await;
        let uuid = inv["uuid"].as_str().unwrap().to_owned();
        project.pay_ok(&uuid, json!({"amount": "20"})).await;
        let failing = || r.mail.to(OWNER).into_iter().filter(|m| m.subject.contains("are failing")).count();
        let given_up = || r.mail.to(OWNER).into_iter().filter(|m| m.subject.contains("failed for good")).count();
        r.app.drain_jobs().await;
        for _ in 0..50 {
            r.app.clock.advance(Duration::from_secs(60));
            r.app.drain_jobs().await;
        }
        assert_eq!(failing(), 0, "not within the first hour");
        // (With jitter, the first attempt past the hour comes by 123 minutes at the latest.)
        for _ in 0..40 {
            r.app.clock.advance(Duration::from_secs(120));
            r.app.drain_jobs().await;
        }
        assert_eq!(failing(), 1, "told once after an hour");
        for _ in 0..80 {
            r.app.clock.advance(Duration::from_secs(3600));
            r.app.drain_jobs().await;
        }
        assert_eq!(failing(), 1, "still once");
        assert_eq!(given_up(), 1, "and when Kassa gave up");
        r.app.stop().await;
    }
);

/// The bell and the preferences page in real Chromium, desktop and phone width; screenshots
/// in `test-artifacts/notifications/`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bell_and_the_preferences_in_chromium() {
    use crate::support::webdriver::{Browser, artifacts, browser_skipped};
    if browser_skipped() {
        return;
    }
    let r = rig(kassa_store::Engine::Sqlite).await;
    let shots = artifacts("notifications");
    let b = Browser::start(1280, 900).await;
    b.goto(&format!("{}/login", r.app.base)).await;
    b.type_into("#f-email", OWNER).await;
    b.type_into("#f-password", PASSWORD).await;
    b.click("button[type=submit]").await;
    b.wait_for_path("/dashboard").await;
    assert!(
        !b.exists("#bell-count:not([hidden])").await,
        "nothing unread yet"
    );
    let uuid = paid(&r, 42.0).await;
    paid(&r, 43.0).await;
    r.app.drain_jobs().await;
    // The count updates without a reload (the page polls it).
    b.execute("document.dispatchEvent(new Event('visibilitychange'));")
        .await;
    b.wait_for_text("#bell-count", "2").await;
    b.screenshot(&shots, "01-bell-desktop").await;
    b.click("#bell").await;
    b.wait_for_path("/notifications").await;
    assert!(
        b.text("#notes")
            .await
            .contains(&format!("Invoice {uuid} paid"))
    );
    b.screenshot(&shots, "02-center-desktop").await;
    b.click("#mark-all").await;
    // The same path before and after the form's redirect: wait for the new page's bell.
    wait_until(10, "all read", || async {
        !b.exists("#bell-count:not([hidden])").await
    })
    .await;
    b.resize(390, 844).await;
    let overflow = b
        .execute("return document.documentElement.scrollWidth - window.innerWidth;")
        .await;
    assert!(
        overflow.as_i64().unwrap() <= 0,
        "sideways scroll of {overflow} px"
    );
    b.screenshot(&shots, "03-center-phone").await;
    b.goto(&format!("{}/account/notifications", r.app.base))
        .await;
    assert!(b.exists("#prefs").await && b.exists("#tg-make-link").await);
    b.screenshot(&shots, "04-preferences-phone").await;
    b.click("#tg-make-link").await;
    assert!(
        b.text("#tg-link")
            .await
            .starts_with("https://t.me/kassa_test_bot?start=")
    );
    b.resize(1280, 900).await;
    b.screenshot(&shots, "05-preferences-desktop").await;
    b.quit().await;
    r.app.stop().await;
}

engine_test!(
    async fn the_operator_is_told_once_when_a_node_stays_unreachable(engine) {
        if crate::support::litecoind::litecoind_skipped() {
            return;
        }
        let sink = SmtpSink::start().await;
        let url = sink.url();
        let mut r = crate::withdrawals::Rig::new_with(engine, move |s| {
            s.mail.smtp_url = kassa_core::secret::SecretString::new(url.clone());
            s.notifications.operator_emails = "ops@example.com, oncall@example.com".into();
        })
        .await;
        let down = |to: &str| sink.to(to).into_iter().filter(|m| m.subject.contains("LTC node has been unreachable")).count();
        r.node.kill();
        wait_until(20, "the node seen down", || async {
            r.app.state.metrics.chain("LTC").is_some_and(|h| !h.reachable)
        })
        .await;
        // Not before the operator's minutes.
        tokio::time::sleep(Duration::from_millis(300)).await;
        r.app.drain_jobs().await;
        assert_eq!(down("ops@example.com"), 0);
        r.app.clock.advance(Duration::from_secs(6 * 60));
        wait_until(20, "the operator told", || async {
            r.app.drain_jobs().await;
            down("ops@example.com") == 1 && down("oncall@example.com") == 1
        })
        .await;
        // Rounds go on failing: told once.
        tokio::time::sleep(Duration::from_millis(500)).await;
        r.app.clock.advance(Duration::from_secs(60));
        tokio::time::sleep(Duration::from_millis(300)).await;
        r.app.drain_jobs().await;
        assert_eq!(down("ops@example.com"), 1);
        assert!(sink.to("ops@example.com")[0].text.contains("Payments in LTC are not seen"));
        r.app.stop().await;
    }
);

engine_test!(
    async fn a_postback_names_its_delivery_the_same_on_every_retry(engine) {
        let r = rig(engine).await;
        let receiver = crate::support::receiver::Receiver::answering(&[500, 503]).await;
        let project = crate::support::api::shop_of(&r.app, r.shop.owner, &receiver.url).await;
        let pay = |usd: f64| {
            let project = &project;
            async move {
                let inv = project.create(usd, json!({"add_fields": {"cryptocurrency": "USDT_TRC20"}})).await;
                let uuid = inv["uuid"].as_str().unwrap().to_owned();
                project.pay_ok(&uuid, json!({"amount": format!("{usd}")})).await;
                uuid
            }
        };
        let first = pay(10.0).await;
        r.app.drain_jobs().await;
        for _ in 0..4 {
            r.app.clock.advance(Duration::from_secs(300));
            r.app.drain_jobs().await;
        }
        let second = pay(11.0).await;
        r.app.drain_jobs().await;
        let hits = receiver.hits();
        assert_eq!(hits.len(), 4, "500, 503, then 200; and the second invoice's 200");
        let ids: Vec<&str> = hits.iter().map(|h| h.delivery.as_str()).collect();
        let bare = |u: &str| u.trim_start_matches("INV-").to_owned();
        assert!(ids[0].starts_with(&bare(&first)) && ids[0].len() > bare(&first).len(), "{ids:?}");
        assert_eq!((ids[0], ids[1]), (ids[2], ids[2]), "one id for every retry of one delivery: {ids:?}");
        assert!(ids[3].starts_with(&bare(&second)) && ids[3] != ids[0], "another delivery, another id: {ids:?}");
        r.app.stop().await;
    }
);

engine_test!(
    async fn a_postback_shows_its_next_try_and_giving_up_and_a_delivered_resend_closes_it(engine) {
        let r = rig(engine).await;
        let shop_down = crate::support::receiver::Receiver::start().await;
        shop_down.always(500);
        let project = crate::support::api::shop_of(&r.app, r.shop.owner, &shop_down.url).await;
        let inv = project.create(15.0, json!({"add_fields": {"cryptocurrency": "USDT_TRC20"}})).await;
        let uuid = inv["uuid"].as_str().unwrap().trim_start_matches("INV-").to_owned();
        project.pay_ok(&uuid, json!({"amount": "15"})).await;
        r.app.drain_jobs().await;
        let s = sign_in(&r.app, OWNER).await;
        let path = format!("/projects/{}/invoices/{uuid}", project.id);
        let page = s.get(&path).await;
        assert!(page.has("id=\"postback-state\"") && page.has("1 attempts so far, the next at"), "{}", page.body);
        // The project's integration page lists it too, with its next try.
        let integration = format!("/projects/{}/integration", project.id);
        let page = s.get(&integration).await;
        assert!(page.has(&format!("INV-{uuid}")) && page.has("Not accepted yet: 1 attempts, the next at") && page.has("HTTP 500"), "{}", page.body);
        assert!(!page.has("resend-postback"), "nothing to resend while Kassa still tries");
        // Three days of failures: given up, said on the page.
        for _ in 0..80 {
            r.app.clock.advance(Duration::from_secs(3600));
            r.app.drain_jobs().await;
        }
        // (The session idled out meanwhile.)
        let s = sign_in(&r.app, OWNER).await;
        let page = s.get(&path).await;
        assert!(page.has("Kassa gave up on this postback after"), "{}", page.body);
        let failed = kassa_store::jobs::list(&r.app.state.db, Some(kassa_store::jobs::JobState::Failed), 100).await.unwrap();
        assert_eq!(failed.iter().filter(|j| j.kind == "postback.send").count(), 1);
        let page = s.get(&integration).await;
        assert!(page.has("Gave up after") && page.has(&format!("{path}/resend-postback")), "{}", page.body);
        // The shop is fixed; a resend from the integration page is delivered and the failed
        // job is closed.
        shop_down.always(200);
        let resent = s.post(&format!("{path}/resend-postback"), &[("back", "integration")]).await;
        assert_eq!(resent.status, StatusCode::SEE_OTHER, "{}", resent.body);
        assert_eq!(resent.location.as_deref(), Some(format!("{integration}#postbacks").as_str()));
        let page = s.get(&integration).await;
        assert!(page.has("Queued: goes out in a moment"), "the resend waits, and says so: {}", page.body);
        r.app.drain_jobs().await;
        let page = s.get(&integration).await;
        assert!(page.has("Every postback was accepted by the shop.") && !page.has("Gave up after"), "{}", page.body);
        let page = s.get(&path).await;
        assert!(!page.has("id=\"postback-state\""), "{}", page.body);
        let failed = kassa_store::jobs::list(&r.app.state.db, Some(kassa_store::jobs::JobState::Failed), 100).await.unwrap();
        assert_eq!(failed.iter().filter(|j| j.kind == "postback.send").count(), 0, "the old failed job is closed");
        assert!(shop_down.hits().len() > 10);
        r.app.stop().await;
    }
);
