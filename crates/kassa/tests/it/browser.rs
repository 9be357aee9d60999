//! Real headless Chromium: a merchant signs up, confirms from the captured e-mail, turns on
//! two-factor authentication, signs out and signs in again with a TOTP code. Screenshots at
//! desktop and phone width go to `test-artifacts/browser/`.

use std::time::Duration;

use crate::support::accounts::{PASSWORD, app_with_mail, code};
use crate::support::webdriver::{Browser, artifacts, browser_skipped};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_up_confirm_enable_2fa_and_sign_in_with_totp() {
    if browser_skipped() {
        return;
    }
    let (app, mail) = app_with_mail(kassa_store::Engine::Sqlite).await;
    let shots = artifacts("browser");
    let b = Browser::start(1280, 900).await;

    b.goto(&format!("{}/signup", app.base)).await;
    b.type_into("#f-business", "Moonlight Coffee").await;
    b.type_into("#f-email", "owner@moonlight.example").await;
    b.type_into("#f-password", PASSWORD).await;
    b.type_into("#f-password_repeat", "not the same password")
        .await;
    b.click("button[type=submit]").await;
    // The mistake is shown next to the field; what was typed is kept.
    assert!(b.text("#e-password_repeat").await.contains("do not match"));
    assert!(
        b.source()
            .await
            .contains("value=\"owner@moonlight.example\""),
        "the e-mail is kept"
    );
    b.screenshot(&shots, "01-signup-error-desktop").await;
    b.type_into("#f-password", PASSWORD).await;
    b.type_into("#f-password_repeat", PASSWORD).await;
    b.click("button[type=submit]").await;
    b.wait_for_text(
        "main",
        "We sent a confirmation link to owner@moonlight.example",
    )
    .await;
    b.screenshot(&shots, "02-check-inbox").await;

    // Open the link from the e-mail the SMTP listener caught.
    app.drain_jobs().await;
    let link = mail
        .last_to("owner@moonlight.example")
        .link(&format!("{}/confirm-email/", app.base));
    b.goto(&link).await;
    b.wait_for_path("/login").await;
    assert!(b.text(".flash").await.contains("confirmed"));
    b.screenshot(&shots, "03-confirmed-login").await;
    b.type_into("#f-email", "owner@moonlight.example").await;
    b.type_into("#f-password", PASSWORD).await;
    b.click("button[type=submit]").await;
    b.wait_for_path("/dashboard").await;
    assert!(b.text("h1").await.contains("Dashboard"));
    b.screenshot(&shots, "04-dashboard-desktop").await;

    // Turn on two-factor authentication.
    b.goto(&format!("{}/account/2fa", app.base)).await;
    b.click("form[action='/account/2fa/setup'] button").await;
    b.wait_for_path("/account/2fa").await;
    b.find(".qr svg").await;
    let key = b.text("#totp-key").await;
    b.screenshot(&shots, "05-2fa-setup").await;
    b.type_into("#f-code", &code(&app, &key)).await;
    b.click("form[action='/account/2fa/confirm'] button").await;
    let codes = b.text("#recovery-codes").await;
    assert_eq!(codes.lines().count(), 10, "{codes}");
    b.screenshot(&shots, "06-recovery-codes").await;

    // Sign out through the account menu.
    b.click("details.account-menu summary").await;
    b.click("form[action='/logout'] button").await;
    b.wait_for_path("/login").await;

    // Sign in again: password, then the code of the next 30-second step.
    app.clock.advance(Duration::from_secs(30));
    b.type_into("#f-email", "owner@moonlight.example").await;
    b.type_into("#f-password", PASSWORD).await;
    b.click("button[type=submit]").await;
    b.wait_for_path("/login/2fa").await;
    b.screenshot(&shots, "07-second-factor").await;
    b.type_into("#f-code", &code(&app, &key)).await;
    b.click("form[action='/login/2fa'] button").await;
    b.wait_for_path("/dashboard").await;
    assert!(
        b.text(".checklist")
            .await
            .contains("Two-factor authentication")
    );

    // The same pages at phone width.
    b.resize(390, 844).await;
    b.screenshot(&shots, "08-dashboard-phone").await;
    b.goto(&format!("{}/account/sessions", app.base)).await;
    b.screenshot(&shots, "09-sessions-phone").await;
    b.goto(&format!("{}/activity", app.base)).await;
    assert!(
        b.text("table")
            .await
            .contains("Turned on two-factor authentication")
    );
    b.screenshot(&shots, "10-activity-phone").await;
    b.resize(1280, 900).await;
    b.screenshot(&shots, "11-activity-desktop").await;
    b.quit().await;
    app.stop().await;
}

/// Payments and Statistics in Chromium: filter, choose columns (still chosen after a reload),
/// the export link downloads the view, the statistics chart is drawn; no sideways scrolling
/// at phone width. Screenshots in `test-artifacts/payments/`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payments_are_filtered_chosen_exported_and_charted_in_chromium() {
    use crate::support::api::{T0, shop};
    use serde_json::json;

    if browser_skipped() {
        return;
    }
    let app = crate::support::TestApp::spawn(kassa_store::Engine::Sqlite).await;
    app.clock.set(T0);
    let s = shop(&app, "owner@moonlight.example", "").await;
    for (i, (usd, pay)) in [
        (12.5, Some("12.5")),
        (40.0, None),
        (7.25, Some("7.25")),
        (99.0, Some("20")),
    ]
    .into_iter()
    .enumerate()
    {
        let inv = s
            .create(usd, json!({"order_id": format!("ORDER-{i}"), "add_fields": {"cryptocurrency": "USDT_TRC20"}}))
            .await;
        if let Some(amount) = pay {
            s.pay_ok(inv["uuid"].as_str().unwrap(), json!({"amount": amount}))
                .await;
        }
    }
    let shots = artifacts("payments");
    let b = Browser::start(1280, 900).await;
    b.goto(&format!("{}/login", app.base)).await;
    b.type_into("#f-email", "owner@moonlight.example").await;
    b.type_into("#f-password", PASSWORD).await;
    b.click("button[type=submit]").await;
    b.wait_for_path("/dashboard").await;

    // Filter: test invoices, paid only.
    b.goto(&format!("{}/payments", app.base)).await;
    b.execute("document.getElementById('f-mode').value = 'test'; document.getElementById('f-status').value = 'paid';")
        .await;
    b.click("form.payments-filters button[type=submit]").await;
    b.wait_for_text("main", "ORDER-0").await;
    let url = b.url().await;
    assert!(
        url.contains("mode=test") && url.contains("status=paid"),
        "{url}"
    );
    let rows = b
        .execute("return document.querySelectorAll('table.payments tbody tr').length;")
        .await;
    assert_eq!(
        rows,
        json!(2),
        "ORDER-0 and ORDER-2 are paid; ORDER-3 is partial"
    );
    b.screenshot(&shots, "01-payments-filtered-desktop").await;

    // Columns: status first, then order id and the invoice; saved, and kept after a reload.
    b.execute("document.querySelector('details.chooser').open = true;")
        .await;
    b.execute(
        "for (const c of document.querySelectorAll('ul.columns input[type=checkbox]')) c.checked = false;
         for (const [k, p] of [['status', 1], ['order_id', 2], ['invoice', 3], ['received_usd', 4]]) {
           document.querySelector(`input[name=col_${k}]`).checked = true;
           document.querySelector(`input[name=pos_${k}]`).value = p;
         }",
    )
    .await;
    b.screenshot(&shots, "02-columns-desktop").await;
    b.click("details.chooser button[type=submit]").await;
    b.wait_for_text(".flash", "Columns saved").await;
    b.execute("location.reload();").await;
    b.wait_for_text("main", "ORDER-0").await;
    let headers = b
        .execute("return [...document.querySelectorAll('table.payments thead th')].map(t => t.textContent);")
        .await;
    assert_eq!(
        headers,
        json!(["Status", "Order", "Invoice", "Received, USD"])
    );
    assert!(
        b.url().await.contains("status=paid"),
        "the filters survive the save"
    );

    // The export link downloads exactly this view.
    let csv = b
        .execute(
            "const x = new XMLHttpRequest(); x.open('GET', document.querySelector('a[download]').href, false); x.send();
             return [x.status, x.getResponseHeader('content-disposition'), x.responseText];",
        )
        .await;
    assert_eq!(csv[0], json!(200));
    assert!(
        csv[1]
            .as_str()
            .unwrap()
            .starts_with("attachment; filename=\"kassa-payments-")
    );
    let text = csv[2].as_str().unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "status,order_id,invoice,received_usd");
    assert_eq!(lines.len(), 3, "{text}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("paid,ORDER-0,INV-") && l.ends_with(",12.50")),
        "{text}"
    );

    // The Excel link downloads the same view as a workbook (a zip container: "PK").
    let xlsx = b
        .execute(
            "const a = document.querySelectorAll('a[download]')[1];
             const x = new XMLHttpRequest(); x.open('GET', a.href, false);
             x.overrideMimeType('text/plain; charset=x-user-defined'); x.send();
             return [a.href, x.status, x.getResponseHeader('content-type'), x.responseText.slice(0, 2), x.responseText.length];",
        )
        .await;
    assert!(
        xlsx[0].as_str().unwrap().contains("status=paid")
            && xlsx[0].as_str().unwrap().ends_with("format=xlsx"),
        "{xlsx}"
    );
    assert_eq!(xlsx[1], json!(200));
    assert_eq!(
        xlsx[2],
        json!("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    );
    assert_eq!(xlsx[3], json!("PK"));
    assert!(xlsx[4].as_u64().unwrap() > 3000, "{xlsx}");

    // At phone width the table becomes cards: no sideways scrolling.
    b.resize(390, 844).await;
    let overflow = b
        .execute("return document.documentElement.scrollWidth - window.innerWidth;")
        .await;
    assert!(
        overflow.as_i64().unwrap() <= 0,
        "sideways scroll of {overflow} px"
    );
    b.screenshot(&shots, "03-payments-phone").await;

    // Statistics: the chart is drawn, with a title for screen readers.
    b.resize(1280, 900).await;
    b.goto(&format!("{}/statistics?period=7&mode=test", app.base))
        .await;
    b.wait_for_text("#s-turnover", "19.75 USD").await;
    let bars = b
        .execute("return document.querySelectorAll('svg.chart rect.bar').length;")
        .await;
    assert_eq!(bars, json!(7));
    let title = b
        .execute("return document.querySelector('svg.chart title').textContent;")
        .await;
    assert_eq!(title, json!("Turnover per day, USD"));
    let height = b
        .execute("return document.querySelector('svg.chart').getBoundingClientRect().height;")
        .await;
    assert!(
        height.as_f64().unwrap() > 100.0,
        "the chart is visible: {height}"
    );
    b.screenshot(&shots, "04-statistics-desktop").await;
    b.resize(390, 844).await;
    let overflow = b
        .execute("return document.documentElement.scrollWidth - window.innerWidth;")
        .await;
    assert!(
        overflow.as_i64().unwrap() <= 0,
        "sideways scroll of {overflow} px"
    );
    b.screenshot(&shots, "05-statistics-phone").await;
    b.quit().await;
}
