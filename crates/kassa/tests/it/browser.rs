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
