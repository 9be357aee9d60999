//! Invoices in the merchant dashboard: the creation form (errors next to the fields, input
//! kept, exact amounts), the invoice page with its payment link and QR code, e-mailing the
//! link through a real SMTP listener, payments, timeline and postback attempts after
//! simulated payments with a real postback receiver, and the actions — resend postback,
//! cancel, confirm a partial payment, confirm a test invoice — each in the activity log, and
//! refused with a message (never a 500) when it does not apply or 403 for a viewer.

use std::time::Duration;

use kassa_core::account::Role;
use kassa_core::invoice::{Confirmation, Status};
use kassa_store::invoices::{self as store, InvoiceRow};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::engine_test;
use crate::support::TestApp;
use crate::support::accounts::{
    app_with_mail, owner, project_with_keys, project_with_settings, sign_in, staff,
};
use crate::support::api::live_invoice;
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

/// The flash message of a page, if any.
fn flash(r: &Resp) -> Option<String> {
    r.body
        .contains("role=\"status\">")
        .then(|| unescape(&between(&r.body, "role=\"status\">")))
}

/// A valid creation form with `overrides` replacing fields of the same name.
fn invoice_form<'a>(overrides: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut f = vec![
        ("amount", "15.50"),
        ("currency", "EUR"),
        ("order_id", "ORDER-7"),
        ("email", "payer@example.com"),
        ("lifetime", "90"),
        ("allowed", "USDT_TRC20"),
        ("allowed", "BTC"),
        ("description", "Two bags of coffee"),
    ];
    for (k, v) in overrides {
        f.retain(|(n, _)| n != k);
        f.push((k, v));
    }
    f
}

/// Creates an invoice through the form; returns its public id (without `INV-`).
async fn create_through_form(s: &Session, project: i64, form: &[(&str, &str)]) -> String {
    let r = s
        .submit(&format!("/projects/{project}/invoices/new"), form)
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let location = r.location.expect("redirect to the invoice");
    let prefix = format!("/projects/{project}/invoices/");
    assert!(location.starts_with(&prefix), "{location}");
    location[prefix.len()..].to_owned()
}

async fn stored(app: &TestApp, uuid: &str) -> InvoiceRow {
    store::by_uuid(&mut app.state.db.conn().await.unwrap(), uuid)
        .await
        .unwrap()
        .expect("invoice")
}

async fn invoice_count(app: &TestApp, project: kassa_core::ProjectId) -> i64 {
    store::list(
        &mut app.state.db.conn().await.unwrap(),
        project,
        &store::ListFilter::default(),
        0,
        1,
    )
    .await
    .unwrap()
    .1
}

/// Posts an action of the invoice page and follows the redirect back to it.
async fn act(s: &Session, project: i64, uuid: &str, action: &str, form: &[(&str, &str)]) -> Resp {
    let page = format!("/projects/{project}/invoices/{uuid}");
    s.get(&page).await;
    let r = s.post(&format!("{page}/{action}"), form).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{action}: {}", r.body);
    assert_eq!(r.location.as_deref(), Some(page.as_str()));
    s.get(&page).await
}

engine_test!(
    async fn invoices_are_created_through_the_form_with_errors_next_to_the_fields(engine) {
        let app = TestApp::spawn(engine).await;
        let o = owner(&app, "o@shop.example").await;
        let p = project_with_settings(&app, o, "Corner Shop", |_| {}).await;
        let id = p.id.get();
        let s = sign_in(&app, "o@shop.example").await;
        let new = format!("/projects/{id}/invoices/new");

        // The project page links to its invoices; the list starts empty with a button.
        assert!(s.get(&format!("/projects/{id}")).await.has(&format!("href=\"/projects/{id}/invoices\"")));
        let list = s.get(&format!("/projects/{id}/invoices")).await;
        assert_eq!(list.status, StatusCode::OK);
        assert!(list.has("No invoices here yet.") && list.has(&format!("href=\"{new}\"")));

        // Mistakes: each next to its field, what was typed kept, nothing created.
        let r = s.submit(&new, &invoice_form(&[("amount", "12.345"), ("lifetime", "0"), ("email", "not-an-email"), ("order_id", "A-1")])).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(field_error(&r, "amount").as_deref(), Some("This currency has at most 2 decimal places."));
        assert_eq!(field_error(&r, "lifetime").as_deref(), Some("Enter whole minutes from 1 to 44640 (31 days), or leave it empty."));
        assert!(field_error(&r, "email").is_some(), "bad e-mail");
        assert!(field_error(&r, "currency").is_none());
        for kept in ["value=\"12.345\"", "value=\"0\"", "value=\"not-an-email\"", "value=\"A-1\"", "Two bags of coffee", "<option value=\"EUR\" selected>"] {
            assert!(r.has(kept), "{kept} kept:\n{}", r.body);
        }
        assert!(r.has("value=\"BTC\" checked") && !r.has("value=\"ETH\" checked"), "ticked currencies kept");
        let r = s.post(&new, &invoice_form(&[("currency", "XYZ")])).await;
        assert_eq!(field_error(&r, "currency").as_deref(), Some("Choose a currency from the list."));
        let r = s.post(&new, &invoice_form(&[("lifetime", "44641")])).await;
        assert!(field_error(&r, "lifetime").is_some(), "over 31 days");
        for bad in ["-5", "abc", "1.2.3", "0"] {
            let r = s.post(&new, &invoice_form(&[("amount", bad)])).await;
            assert!(field_error(&r, "amount").is_some(), "{bad}");
        }
        let r = s.post(&new, &invoice_form(&[("amount", "0.000000001"), ("currency", "BTC")])).await;
        assert_eq!(field_error(&r, "amount").as_deref(), Some("This currency has at most 8 decimal places."));
        for (amount, currency, max) in [("10000000000000", "USD", "9999999999999.99 USD"), ("99999999999999999999999", "BTC", "999999999999999 BTC")] {
            let r = s.post(&new, &invoice_form(&[("amount", amount), ("currency", currency)])).await;
            assert_eq!(r.status, StatusCode::OK, "{amount} {currency}");
            assert_eq!(field_error(&r, "amount"), Some(format!("The largest amount is {max}.")), "{amount} {currency}");
        }
        let r = s.post(&new, &[("amount", "1"), ("currency", "USD"), ("send_link", "on")]).await;
        assert_eq!(field_error(&r, "email").as_deref(), Some("Enter the payer's e-mail to send them the link."));
        assert_eq!(field_error(&r, "allowed").as_deref(), Some("Tick at least one currency."));
        let r = s.post(&new, &invoice_form(&[("order_id", &"x".repeat(201))])).await;
        assert!(field_error(&r, "order_id").is_some());
        assert_eq!(invoice_count(&app, p.id).await, 0, "nothing created");

        // A valid one lands on its page with the link and its QR code.
        let uuid = create_through_form(&s, id, &invoice_form(&[])).await;
        let page = s.get(&format!("/projects/{id}/invoices/{uuid}")).await;
        assert_eq!(page.status, StatusCode::OK);
        assert_eq!(flash(&page).as_deref(), Some("The invoice is created."));
        let link = format!("{}/pay/{uuid}", app.state.public_url);
        assert!(page.has(&format!("id=\"pay-link\" href=\"{link}\"")), "{}", page.body);
        assert!(page.has(&format!("readonly value=\"{link}\"")), "a field to copy the link from");
        assert!(page.has("<svg") && page.has("aria-label=\"QR code of the payment link\""));
        for text in ["INV-", "Waiting for payment", "15.50 EUR", "ORDER-7", "payer@example.com", "Two bags of coffee", "USDT_TRC20, BTC", "Test invoice", "Invoice created for 15.50 EUR by o@shop.example."] {
            assert!(page.has(text), "{text} on the page");
        }
        let row = stored(&app, &uuid).await;
        assert_eq!((row.price.to_string().as_str(), row.order_id.as_str()), ("15.50 EUR", "ORDER-7"));
        assert_eq!(row.allowed_currencies, ["USDT_TRC20", "BTC"]);
        assert_eq!(row.expires_at.duration_since(row.created_at), Duration::from_secs(90 * 60));
        assert!(row.test);

        // Exact crypto prices; an empty lifetime is the project's default (24 h).
        let btc = create_through_form(&s, id, &invoice_form(&[("amount", "0.00012345"), ("currency", "BTC"), ("lifetime", "")])).await;
        let row = stored(&app, &btc).await;
        assert_eq!((row.price.to_string().as_str(), row.currency.as_deref()), ("0.00012345 BTC", Some("BTC")));
        assert_eq!(row.expires_at.duration_since(row.created_at), Duration::from_secs(24 * 3600));
        let page = s.get(&format!("/projects/{id}/invoices/{btc}")).await;
        assert!(page.has("0.00012345 BTC") && page.has("BTC · Bitcoin (BTC)"), "quote locked in BTC");

        // The list: newest first, with status and filters.
        let list = s.get(&format!("/projects/{id}/invoices")).await;
        let (first, second) = (list.body.find(&format!("INV-{btc}")).unwrap(), list.body.find(&format!("INV-{uuid}")).unwrap());
        assert!(first < second, "newest first");
        assert!(list.has("2 invoices · page 1 of 1") && list.has("class=\"badge test\""));
        assert!(s.get(&format!("/projects/{id}/invoices?status=paid")).await.has("No invoices here yet."));
        assert!(s.get(&format!("/projects/{id}/invoices?status=created")).await.has(&format!("INV-{uuid}")));
        assert_eq!(s.get(&format!("/projects/{id}/invoices?status=junk&page=-3")).await.status, StatusCode::OK);
        assert_eq!(s.get(&format!("/projects/{id}/invoices/NOPE")).await.status, StatusCode::NOT_FOUND);

        // In the activity log.
        let log = s.get("/activity").await;
        assert!(log.has("Created an invoice") && log.has(&format!("INV-{uuid}")), "{}", log.body);

        // 51 invoices make two pages.
        for _ in 0..49 {
            create_through_form(&s, id, &invoice_form(&[])).await;
        }
        let list = s.get(&format!("/projects/{id}/invoices")).await;
        assert!(list.has("51 invoices · page 1 of 2") && list.has("page=2") && !list.has(&format!("INV-{uuid}")));
        let list = s.get(&format!("/projects/{id}/invoices?page=2")).await;
        assert!(list.has(&format!("INV-{uuid}")) && list.has("page=1"));

        // An archived project takes no new invoices, and says so.
        let client = kassa_service::accounts::Client { ip: "127.0.0.1".into(), user_agent: "test".into() };
        let prow = kassa_store::projects::by_id(&mut app.state.db.conn().await.unwrap(), p.id).await.unwrap();
        kassa_service::projects::set_archived(&app.state, &prow, &kassa_service::audit::Actor::of(Some(o), &client), true).await.unwrap();
        let form = s.get(&new).await;
        assert!(form.has("This project is archived"), "{}", form.body);
        let r = s.post(&new, &invoice_form(&[])).await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.has("This project is archived"));
        assert_eq!(invoice_count(&app, p.id).await, 51);
        app.stop().await;
    }
);

engine_test!(
    async fn the_payment_link_is_emailed_from_the_dashboard(engine) {
        let (app, mail) = app_with_mail(engine).await;
        let o = owner(&app, "o@shop.example").await;
        let p = project_with_settings(&app, o, "Corner Shop", |_| {}).await;
        let id = p.id.get();
        let s = sign_in(&app, "o@shop.example").await;

        // Ticked on creation: the payer gets the link.
        let uuid = create_through_form(&s, id, &invoice_form(&[("send_link", "on")])).await;
        let link = format!("{}/pay/{uuid}", app.state.public_url);
        app.drain_jobs().await;
        let letter = mail.last_to("payer@example.com");
        assert_eq!(letter.subject, "Payment request from Corner Shop");
        assert_eq!(letter.link(&link), link);
        assert!(letter.text.contains("15.5 EUR"), "{}", letter.text);

        // From the invoice page, to any address.
        let page = act(&s, id, &uuid, "send-link", &[("email", "Other@Example.com")]).await;
        assert_eq!(flash(&page).as_deref(), Some("The payment link is on its way to the payer."));
        assert!(page.has("Payment link e-mailed to other@example.com by o@shop.example."), "{}", page.body);
        assert_eq!(mail.to("other@example.com").len(), 0, "sent by the job queue");
        app.drain_jobs().await;
        assert_eq!(mail.last_to("other@example.com").link(&link), link);
        let log = s.get("/activity").await;
        assert!(log.has("E-mailed a payment link") && log.has("other@example.com"));

        // A bad address, or an invoice that no longer waits for payment: a message, no mail.
        let page = act(&s, id, &uuid, "send-link", &[("email", "nobody")]).await;
        assert_eq!(flash(&page).as_deref(), Some("Enter a valid e-mail address."));
        act(&s, id, &uuid, "cancel", &[]).await;
        let page = act(&s, id, &uuid, "send-link", &[("email", "late@example.com")]).await;
        assert_eq!(flash(&page).as_deref(), Some("The invoice no longer waits for payment."));
        assert!(!page.has("/send-link\""), "no form for a cancelled invoice");
        app.drain_jobs().await;
        assert!(mail.to("late@example.com").is_empty());
        app.stop().await;
    }
);

/// `POST path` to the API with the project's key.
async fn api(app: &TestApp, key: &str, path: &str, body: Value) -> Value {
    let r = app
        .client
        .post(format!("{}{path}", app.base))
        .header("authorization", format!("Token {key}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

engine_test!(
    async fn payments_timeline_and_postbacks_show_and_actions_are_logged(engine) {
        let app = TestApp::spawn(engine).await;
        let shop = Receiver::start().await;
        let o = owner(&app, "o@shop.example").await;
        let p = project_with_keys(&app, o, "Corner Shop", &shop.url).await;
        let id = p.id.get();
        let s = sign_in(&app, "o@shop.example").await;
        let page_of = |uuid: &str| format!("/projects/{id}/invoices/{uuid}");

        // A test invoice without a currency: the simulate form asks for one first.
        let uuid = create_through_form(&s, id, &invoice_form(&[("amount", "10"), ("currency", "USD")])).await;
        let page = s.get(&page_of(&uuid)).await;
        assert!(page.has("The payer has not chosen a currency yet.") && page.has("name=\"currency\""));
        assert!(page.has("No payments yet.") && page.has("No postbacks sent."));
        let page = act(&s, id, &uuid, "simulate", &[("outcome", "partial"), ("currency", "USDT_TRC20")]).await;
        assert_eq!(flash(&page).as_deref(), Some("The test payment is recorded."));
        let row = stored(&app, &uuid).await;
        assert_eq!((row.status, row.currency.as_deref()), (Status::Partial, Some("USDT_TRC20")));
        assert!(page.has("Partially paid") && page.has("USDT · Tron (USDT_TRC20)"));
        let transfers = store::transfers_of(&mut app.state.db.conn().await.unwrap(), row.id).await.unwrap();
        assert_eq!(transfers.len(), 1);
        let (txid, paid) = (&transfers[0].txid, transfers[0].amount.to_decimal_string(6));
        let due = row.quote.unwrap().due.to_decimal_string(6);
        assert!(page.has(&format!("<code class=\"txid\">{txid}</code>")) && page.has(&format!("{paid} USDT")), "the payment is listed");
        assert!(page.has(&format!("USDT_TRC20 chosen: {due} due to {}", row.address.as_deref().unwrap())), "{}", page.body);
        assert!(page.has("Status changed from “Waiting for payment” to “Partially paid”."));
        assert!(page.has(&format!("Payment of {paid} USDT_TRC20 confirmed (transaction {txid}).")));
        assert!(page.has("/confirm-partial\"") && !page.has("/resend-postback\"") && !page.has("/cancel\""), "the actions that apply");

        // The rest: paid, confirmed, the postback delivered and listed.
        act(&s, id, &uuid, "simulate", &[("outcome", "full")]).await;
        assert_eq!(stored(&app, &uuid).await.status, Status::Paid);
        app.drain_jobs().await;
        assert_eq!(shop.hits().len(), 1);
        assert_eq!(shop.hits()[0].json()["invoice_id"], json!(uuid));
        let page = s.get(&page_of(&uuid)).await;
        assert_eq!(page.body.matches("<code class=\"txid\">").count(), 2, "both payments");
        assert!(page.has("Confirmed: paid in full.") && page.has(&format!("Postback queued for {}.", shop.url)));
        assert!(page.has(&format!("<code class=\"details\">{}</code>", shop.url)) && page.has(">200<") && page.has("<code class=\"details\">ok</code>"), "the attempt: {}", page.body);
        assert!(page.has(" ms<"), "latency");

        // Resend: a new delivery the receiver gets, on the timeline and in the activity log.
        let page = act(&s, id, &uuid, "resend-postback", &[]).await;
        assert_eq!(flash(&page).as_deref(), Some("A new postback is on its way."));
        assert!(page.has("o@shop.example asked to resend the postback."));
        app.drain_jobs().await;
        assert_eq!(shop.hits().len(), 2, "delivered again");
        let page = s.get(&page_of(&uuid)).await;
        assert_eq!(page.body.matches(">200<").count(), 2, "two attempts listed");

        // Cancelling a paid invoice is refused with a message.
        let page = act(&s, id, &uuid, "cancel", &[]).await;
        assert_eq!(flash(&page).as_deref(), Some("Only an invoice that is waiting for payment and has received nothing can be cancelled."));
        assert_eq!(stored(&app, &uuid).await.status, Status::Paid);
        let page = act(&s, id, &uuid, "confirm-partial", &[]).await;
        assert_eq!(flash(&page).as_deref(), Some("Only a partially paid invoice can be confirmed."));
        let page = act(&s, id, &uuid, "simulate", &[("outcome", "full")]).await;
        assert_eq!(flash(&page).as_deref(), Some("Nothing is due on this invoice any more."));
        let page = act(&s, id, &uuid, "simulate", &[("outcome", "sideways")]).await;
        assert_eq!(flash(&page).as_deref(), Some("Choose how the test payment ends."));

        // Confirm a partial payment.
        let partial = create_through_form(&s, id, &invoice_form(&[("amount", "10"), ("currency", "USD")])).await;
        act(&s, id, &partial, "simulate", &[("outcome", "partial"), ("currency", "USDT_TRC20")]).await;
        let page = act(&s, id, &partial, "confirm-partial", &[]).await;
        assert_eq!(flash(&page).as_deref(), Some("The partial payment is confirmed; the invoice is paid."));
        let row = stored(&app, &partial).await;
        assert_eq!((row.status, row.confirmed), (Status::Paid, Some(Confirmation::Merchant)));
        assert!(page.has("Partial payment accepted by o@shop.example.") && page.has("Confirmed by the merchant for the amount received."));
        // Nothing is due any more, and the postback is shown as queued before it goes out.
        assert!(page.has("Nothing — the invoice was confirmed") && page.has(" USDT short"), "{}", page.body);
        assert!(page.has("The postback is queued and goes out in a moment.") && !page.has("No postbacks sent"), "{}", page.body);
        app.drain_jobs().await;
        assert_eq!(shop.hits().len(), 3, "the confirmation is posted back");

        // Cancel.
        let open = create_through_form(&s, id, &invoice_form(&[])).await;
        let page = act(&s, id, &open, "cancel", &[]).await;
        assert_eq!(flash(&page).as_deref(), Some("The invoice is cancelled."));
        assert_eq!(stored(&app, &open).await.status, Status::Canceled);
        assert!(page.has("Cancelled by o@shop.example."));
        let page = act(&s, id, &open, "resend-postback", &[]).await;
        assert_eq!(flash(&page).as_deref(), Some("A postback is only sent for a confirmed invoice."));

        // Everything is in the activity log, with the invoice and the change.
        let log = s.get("/activity").await;
        for entry in ["Confirmed a test invoice without payment", "Resent an invoice's postback", "Confirmed a partial payment", "Cancelled an invoice", "status: created → canceled", "status: partial → paid", &format!("INV-{open}"), &format!("INV-{partial}"), "outcome: partial"] {
            assert!(log.has(entry), "{entry} in the activity log");
        }

        // The API cancels without an activity entry, and the page says so.
        let created = api(&app, &p.api_key, "/v2/invoice/create", json!({"shop_id": p.shop_id, "amount": 5})).await;
        let api_uuid = created["result"]["uuid"].as_str().unwrap().trim_start_matches("INV-").to_owned();
        api(&app, &p.api_key, "/v2/invoice/merchant/canceled", json!({"uuid": format!("INV-{api_uuid}")})).await;
        assert_eq!(stored(&app, &api_uuid).await.status, Status::Canceled);
        assert!(s.get(&page_of(&api_uuid)).await.has("Cancelled through the API."));
        assert!(!s.get("/activity").await.has(&format!("INV-{api_uuid}")));

        // Only test invoices are confirmed without payment.
        let live = live_invoice(&app, p.id, "USDT_TRC20", "100", "TLa2f6VPqDgRE67v1736s7bJ8Ray5wYjU7").await;
        let page = s.get(&page_of(&live.uuid)).await;
        assert!(page.has("Live invoice") && !page.has("/simulate\""), "no simulate form on a live invoice");
        let page = act(&s, id, &live.uuid, "simulate", &[("outcome", "full")]).await;
        assert_eq!(flash(&page).as_deref(), Some("Only test invoices can be confirmed without payment."));
        assert_eq!(stored(&app, &live.uuid).await.status, Status::Created);
        app.stop().await;
    }
);

engine_test!(
    async fn a_viewer_sees_invoices_but_may_not_act_on_them(engine) {
        let app = TestApp::spawn(engine).await;
        let shop = Receiver::start().await;
        let o = owner(&app, "o@shop.example").await;
        staff(&app, o, "viewer@shop.example", Role::Viewer).await;
        staff(&app, o, "support@shop.example", Role::Support).await;
        let p = project_with_keys(&app, o, "Corner Shop", &shop.url).await;
        let id = p.id.get();
        let owner_s = sign_in(&app, "o@shop.example").await;
        let uuid = create_through_form(&owner_s, id, &invoice_form(&[("amount", "10"), ("currency", "USD")])).await;
        act(&owner_s, id, &uuid, "simulate", &[("outcome", "partial"), ("currency", "USDT_TRC20")]).await;

        let v = sign_in(&app, "viewer@shop.example").await;
        let list = v.get(&format!("/projects/{id}/invoices")).await;
        assert_eq!(list.status, StatusCode::OK);
        assert!(list.has(&format!("INV-{uuid}")) && !list.has("/invoices/new\""), "no create button");
        let page = v.get(&format!("/projects/{id}/invoices/{uuid}")).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.has("Partially paid") && page.has("/pay/"));
        for action in ["cancel", "confirm-partial", "resend-postback", "simulate", "send-link"] {
            assert!(!page.has(&format!("/{action}\"")), "no {action} form for a viewer");
        }
        assert_eq!(v.get(&format!("/projects/{id}/invoices/new")).await.status, StatusCode::FORBIDDEN);
        for (action, form) in [
            ("cancel", vec![]),
            ("confirm-partial", vec![]),
            ("resend-postback", vec![]),
            ("simulate", vec![("outcome", "full")]),
            ("send-link", vec![("email", "payer@example.com")]),
        ] {
            v.get(&format!("/projects/{id}/invoices/{uuid}")).await;
            let r = v.post(&format!("/projects/{id}/invoices/{uuid}/{action}"), &form).await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{action}");
        }
        v.get(&format!("/projects/{id}/invoices")).await;
        assert_eq!(v.post(&format!("/projects/{id}/invoices/new"), &invoice_form(&[])).await.status, StatusCode::FORBIDDEN);
        assert_eq!(stored(&app, &uuid).await.status, Status::Partial, "nothing changed");

        // Support may act (the matrix), and is named for it.
        let sup = sign_in(&app, "support@shop.example").await;
        let page = act(&sup, id, &uuid, "confirm-partial", &[]).await;
        assert!(page.has("Partial payment accepted by support@shop.example."));
        app.stop().await;
    }
);

/// The invoice pages in headless Chromium at phone width (screenshots in
/// `test-artifacts/invoice-pages/`): the form with an error, the invoice page with its QR
/// code, a simulated payment, and the list.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_invoice_pages_work_in_a_browser_at_phone_width() {
    use crate::support::accounts::PASSWORD;
    use crate::support::webdriver::{Browser, artifacts, browser_skipped};

    if browser_skipped() {
        return;
    }
    let app = TestApp::spawn(kassa_store::Engine::Sqlite).await;
    let shop = Receiver::start().await;
    let o = owner(&app, "o@shop.example").await;
    let p = project_with_keys(&app, o, "Corner Shop", &shop.url).await;
    let id = p.id.get();
    let shots = artifacts("invoice-pages");
    let b = Browser::start(390, 844).await;
    b.goto(&format!("{}/login", app.base)).await;
    b.type_into("#f-email", "o@shop.example").await;
    b.type_into("#f-password", PASSWORD).await;
    b.click("button[type=submit]").await;
    b.wait_for_path("/dashboard").await;

    b.goto(&format!("{}/projects/{id}", app.base)).await;
    b.click(&format!("a[href='/projects/{id}/invoices']")).await;
    b.wait_for_path(&format!("/projects/{id}/invoices")).await;
    b.click(&format!("a[href='/projects/{id}/invoices/new']"))
        .await;
    b.wait_for_path(&format!("/projects/{id}/invoices/new"))
        .await;
    b.type_into("#f-amount", "12.345").await;
    b.type_into("#f-order_id", "ORDER-9").await;
    b.click("form[action$='/invoices/new'] button[type=submit]")
        .await;
    assert!(b.text("#e-amount").await.contains("2 decimal places"));
    b.screenshot(&shots, "01-new-invoice-error-phone").await;
    b.type_into("#f-amount", "12.50").await;
    b.click("form[action$='/invoices/new'] button[type=submit]")
        .await;
    b.find(".pay-link .qr svg").await;
    assert!(b.text(".flash").await.contains("The invoice is created."));
    assert!(b.text("#pay-link").await.contains("/pay/"));
    b.screenshot(&shots, "02-invoice-phone").await;

    b.click("form[action$='/simulate'] button").await;
    b.find("table.transfers").await;
    app.drain_jobs().await;
    b.goto(&b.url().await).await;
    b.find("table.attempts").await;
    assert!(b.text(".invoice-status").await.contains("Paid"));
    // Tall enough to show the payments, the timeline and the postback attempts.
    b.resize(390, 2600).await;
    b.screenshot(&shots, "03-invoice-paid-phone").await;
    b.resize(390, 844).await;
    b.goto(&format!("{}/projects/{id}/invoices", app.base))
        .await;
    assert!(b.text("table.invoices").await.contains("ORDER-9"));
    b.screenshot(&shots, "04-list-phone").await;
    b.resize(1280, 900).await;
    b.goto(&b.url().await).await;
    b.screenshot(&shots, "05-list-desktop").await;
    b.click("table.invoices a").await;
    b.find(".pay-link .qr svg").await;
    b.screenshot(&shots, "06-invoice-desktop").await;
    b.quit().await;
    app.stop().await;
}
