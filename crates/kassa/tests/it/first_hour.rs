//! A new merchant's first hour in real Chromium: a project made through the form lands on a
//! page of its own (a refresh posts nothing again) that shows the key once; going live with no
//! network set up is refused and says what the operator has to configure; a new API key that
//! needs re-authentication is finished with one highlighted button afterwards.

use std::time::Duration;

use crate::engine_test;
use crate::support::TestApp;
use crate::support::accounts::{PASSWORD, owner};
use crate::support::webdriver::{Browser, artifacts, browser_skipped};

const OWNER: &str = "owner@first-hour.example";

/// Signs `OWNER` in through the login form.
async fn sign_in(b: &Browser, app: &TestApp) {
    b.goto(&format!("{}/login", app.base)).await;
    b.type_into("#f-email", OWNER).await;
    b.type_into("#f-password", PASSWORD).await;
    b.click("button[type=submit]").await;
    b.wait_for_path("/dashboard").await;
}

/// The project id in the browser's current path `/projects/{id}/…`.
async fn project_in_url(b: &Browser) -> String {
    let url = b.url().await;
    url.split("/projects/")
        .nth(1)
        .and_then(|r| r.split(['/', '?', '#']).next())
        .unwrap_or_else(|| panic!("no project in {url}"))
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_project_goes_live_only_with_a_network_and_keeps_its_actions_across_reauth() {
    if browser_skipped() {
        return;
    }
    let app = TestApp::spawn(kassa_store::Engine::Sqlite).await;
    owner(&app, OWNER).await;
    let shots = artifacts("first-hour");
    let b = Browser::start(1280, 900).await;
    sign_in(&b, &app).await;

    // A project through the form: a redirect to the page that shows its key once.
    b.goto(&format!("{}/projects/new", app.base)).await;
    b.type_into("#f-name", "Corner Shop").await;
    b.click("form[action='/projects/new'] button[type=submit]")
        .await;
    b.find("#api-key").await;
    let id = project_in_url(&b).await;
    b.wait_for_path(&format!("/projects/{id}/keys")).await;
    let first_key = b.text("#api-key").await;
    assert!(first_key.len() > 20, "{first_key}");
    b.screenshot(&shots, "01-key-once").await;
    // A refresh sends nothing again and does not show the key again.
    b.goto(&b.url().await).await;
    b.wait_for_path(&format!("/projects/{id}/integration"))
        .await;
    assert!(
        b.text(".flash")
            .await
            .contains("The API key was shown once")
    );
    assert!(!b.source().await.contains(&first_key));

    // Going live with no network set up: the button is disabled and the page says what the
    // operator has to configure.
    b.goto(&format!("{}/projects/{id}", app.base)).await;
    let blocked = b.text("#live-blocked").await;
    assert!(
        blocked.contains("No network is set up for live payments yet")
            && blocked.contains("[chains.ltc] or [chains.btc]"),
        "{blocked}"
    );
    let disabled = b
        .execute("return document.getElementById('go-live').disabled;")
        .await;
    assert_eq!(disabled.as_bool(), Some(true));
    b.execute("document.getElementById('live-blocked').scrollIntoView();")
        .await;
    b.screenshot(&shots, "02-go-live-blocked").await;
    // Even forced (the button enabled by hand), the server refuses and the project stays in test.
    b.execute("window.confirm = function () { return true; }; var g = document.getElementById('go-live'); g.disabled = false; g.click();").await;
    b.wait_for_path(&format!("/projects/{id}")).await;
    b.find(".flash.error").await;
    assert!(
        b.text(".flash.error")
            .await
            .contains("No network is set up")
    );
    assert!(
        b.source().await.contains("id=\"go-live\" disabled"),
        "still in test mode"
    );

    // A new API key needs a recent sign-in: after re-authenticating, the page offers exactly
    // that action again, and one click finishes it.
    app.clock.advance(Duration::from_secs(6 * 60));
    b.goto(&format!("{}/projects/{id}/integration", app.base))
        .await;
    b.execute("window.confirm = function () { return true; };")
        .await;
    b.click(&format!("form[action='/projects/{id}/api-key'] button"))
        .await;
    b.wait_for_path("/account/reauth").await;
    b.type_into("#f-password", PASSWORD).await;
    b.click("form[action='/account/reauth'] button[type=submit]")
        .await;
    b.wait_for_path(&format!("/projects/{id}/integration"))
        .await;
    let resume = b.text("#resume").await;
    assert!(
        resume.contains("Confirmed — now finish what you started"),
        "{resume}"
    );
    assert!(
        b.text("#resume-button")
            .await
            .contains("Make a new API key")
    );
    b.screenshot(&shots, "03-resume-after-reauth").await;
    b.click("#resume-button").await;
    b.wait_for_path(&format!("/projects/{id}/keys")).await;
    let new_key = b.text("#api-key").await;
    assert!(new_key.len() > 20 && new_key != first_key, "{new_key}");
    b.screenshot(&shots, "04-new-key").await;
    b.quit().await;
    app.stop().await;
}

engine_test!(
    async fn static_wallets_are_listed_made_and_show_their_payments(engine) {
        use kassa_core::currency;
        use kassa_core::money::Amount;
        use kassa_service::payments::{self, TransferReport};
        use reqwest::StatusCode;
        use serde_json::json;

        let app = TestApp::spawn(engine).await;
        let shop = crate::support::api::shop(&app, "o@shop.example", "").await;
        let s = crate::support::accounts::sign_in(&app, "o@shop.example").await;
        let list = format!("/projects/{}/wallets", shop.id);
        let page = s.get(&list).await;
        assert!(page.has("No static wallets yet.") && page.has("aria-current=\"page\">Static wallets</a>"), "{}", page.body);
        // Mistakes are named next to their fields.
        let r = s.post(&list, &[("currency", ""), ("identify", " ")]).await;
        assert!(r.has("id=\"e-currency\">Choose the currency the wallet takes.") && r.has("id=\"e-identify\">Enter your id for the customer."), "{}", r.body);
        let long = "x".repeat(201);
        let r = s.post(&list, &[("currency", "USDT_TRC20"), ("identify", &long)]).await;
        assert!(r.has("id=\"e-identify\">Use at most 200 characters."), "{}", r.body);
        // Made on the dashboard: its page, with the address; the API gives the same wallet.
        let r = s.post(&list, &[("currency", "USDT_TRC20"), ("identify", "cust-42")]).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let wallet_path = r.location.clone().unwrap();
        let page = s.follow(&r).await;
        let api = shop.post("/v2/invoice/static/create", json!({"shop_id": shop.shop_id, "currency": "USDT_TRC20", "identify": "cust-42"})).await.success();
        let address = api["address"].as_str().unwrap().to_owned();
        assert!(page.has(&address) && page.has("The wallet is ready") && page.has("No payments to this wallet yet."), "{}", page.body);
        assert_eq!(wallet_path, format!("{list}/{}", api["uuid"].as_str().unwrap()), "the same wallet as the API's");
        // Two payments to the address, as a watcher reports them: both on the wallet's page.
        let usdt = currency::crypto("USDT_TRC20").unwrap();
        for (txid, amount) in [("ab", "25"), ("cd", "7.5")] {
            let report = TransferReport {
                network: usdt.network,
                txid: txid.repeat(32).leak(),
                index: 0,
                address: &address,
                amount: Amount::parse(amount, usdt.decimals).unwrap(),
                currency: usdt,
                confirmed: true,
                confirmations: 20,
                test: true,
            };
            payments::record_transfer(&app.state, &report).await.expect("record transfer");
        }
        let page = s.get(&wallet_path).await;
        assert!(page.has("2 payments") && page.has("25 USDT") && page.has("7.5 USDT"), "{}", page.body);
        let page = s.get(&list).await;
        assert!(page.has("1 wallet") && page.has("cust-42") && page.has("2 payments · the last on"), "{}", page.body);
        // The activity log names who made it.
        assert!(s.get("/activity?area=projects").await.has("Made a static wallet"));
        // Another project's wallet is not found through this one.
        let other = crate::support::api::shop_of(&app, shop.owner, "").await;
        let theirs = other.post("/v2/invoice/static/create", json!({"shop_id": other.shop_id, "currency": "BTC", "identify": "c"})).await.success();
        let bare = theirs["uuid"].as_str().unwrap();
        assert_eq!(s.get(&format!("{list}/{bare}")).await.status, StatusCode::NOT_FOUND);
        app.stop().await;
    }
);

/// Sideways overflow on the current page: the document wider than the window, or a table's
/// box scrolling sideways (a column off-screen). Code snippets (`pre`) may scroll.
async fn overflow(b: &Browser) -> Vec<String> {
    let found = b
        .execute(
            "var out = []; var w = window.innerWidth;\
             if (document.documentElement.scrollWidth > w) out.push('page ' + document.documentElement.scrollWidth + ' > ' + w);\
             document.querySelectorAll('.table-wrap, table, .tabs, dl, form, section').forEach(function (e) {\
               if (e.closest('pre')) return;\
               var r = e.getBoundingClientRect();\
               if (r.right > w + 1) out.push(e.tagName.toLowerCase() + '.' + e.className + ' ends at ' + Math.round(r.right));\
               if (e.classList.contains('table-wrap') && e.scrollWidth > e.clientWidth + 1) out.push('table-wrap.' + (e.firstElementChild && e.firstElementChild.className) + ' scrolls ' + e.scrollWidth + ' > ' + e.clientWidth);\
             });\
             return out;",
        )
        .await;
    found
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_fits_a_phone() {
    use kassa_core::account::Role;
    use serde_json::json;

    if browser_skipped() {
        return;
    }
    let app = TestApp::spawn(kassa_store::Engine::Sqlite).await;
    let receiver = crate::support::receiver::Receiver::start().await;
    receiver.always(500);
    let owner_id = owner(&app, OWNER).await;
    crate::support::accounts::staff(
        &app,
        owner_id,
        "accountant@first-hour.example",
        Role::Accountant,
    )
    .await;
    // A project with a long notification URL, paid and partly paid invoices, postbacks that
    // failed, a static wallet with a payment.
    let long_url = format!(
        "{}?token=abcdefghijklmnopqrstuvwxyz0123456789&shop=moonlight-coffee-roasters",
        receiver.url
    );
    let shop = crate::support::api::shop_of(&app, owner_id, &long_url).await;
    let inv = shop.create(25.5, json!({"order_id": "ORDER-2026-000123", "add_fields": {"cryptocurrency": "USDT_TRC20"}})).await;
    let paid = inv["uuid"]
        .as_str()
        .unwrap()
        .trim_start_matches("INV-")
        .to_owned();
    shop.pay_ok(&paid, json!({"amount": "25.5"})).await;
    let part = shop
        .create(100.0, json!({"add_fields": {"cryptocurrency": "BTC"}}))
        .await;
    let part_uuid = part["uuid"]
        .as_str()
        .unwrap()
        .trim_start_matches("INV-")
        .to_owned();
    let open = shop.create(12.0, json!({})).await;
    let open_uuid = open["uuid"]
        .as_str()
        .unwrap()
        .trim_start_matches("INV-")
        .to_owned();
    app.drain_jobs().await;
    let wallet = shop.post("/v2/invoice/static/create", json!({"shop_id": shop.shop_id, "currency": "USDT_TRC20", "identify": "customer-with-a-long-identifier-0001"})).await.success();
    let wallet_uuid = wallet["uuid"].as_str().unwrap().to_owned();
    let id = shop.id;
    let staff_id = {
        let mut c = app.state.db.conn().await.unwrap();
        let u = kassa_store::accounts::user_by_email(
            &mut c,
            &kassa_core::account::Email::parse("accountant@first-hour.example").unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
        u.id
    };

    let shots = artifacts("phone");
    let b = Browser::start(390, 844).await;
    sign_in(&b, &app).await;
    // Partly paid after sign-in (the page shows what is still due).
    shop.pay_ok(&part_uuid, json!({"amount": "0.0001"})).await;
    let pages = [
        ("dashboard", "/dashboard".to_owned()),
        ("payments", "/payments".to_owned()),
        ("statistics", "/statistics".to_owned()),
        ("balance", "/balance".to_owned()),
        ("ledger", "/balance/ledger".to_owned()),
        ("withdraw", "/balance/withdraw".to_owned()),
        ("addresses", "/balance/addresses".to_owned()),
        ("rules", "/balance/rules".to_owned()),
        ("projects", "/projects".to_owned()),
        ("project-new", "/projects/new".to_owned()),
        ("project-settings", format!("/projects/{id}")),
        ("integration", format!("/projects/{id}/integration")),
        ("invoices", format!("/projects/{id}/invoices")),
        ("invoice-new", format!("/projects/{id}/invoices/new")),
        ("invoice-paid", format!("/projects/{id}/invoices/{paid}")),
        (
            "invoice-partial",
            format!("/projects/{id}/invoices/{part_uuid}"),
        ),
        (
            "invoice-open",
            format!("/projects/{id}/invoices/{open_uuid}"),
        ),
        ("wallets", format!("/projects/{id}/wallets")),
        ("wallet", format!("/projects/{id}/wallets/{wallet_uuid}")),
        ("staff", "/staff".to_owned()),
        ("staff-member", format!("/staff/{staff_id}")),
        ("activity", "/activity".to_owned()),
        ("notifications", "/notifications".to_owned()),
        ("account", "/account".to_owned()),
        ("account-password", "/account/password".to_owned()),
        ("account-email", "/account/email".to_owned()),
        ("account-2fa", "/account/2fa".to_owned()),
        ("account-sessions", "/account/sessions".to_owned()),
        ("account-history", "/account/history".to_owned()),
        ("account-notifications", "/account/notifications".to_owned()),
        ("withdrawal-key", "/account/withdrawal-key".to_owned()),
        ("pay-open", format!("/pay/{open_uuid}")),
        ("pay-partial", format!("/pay/{part_uuid}")),
        ("pay-paid", format!("/pay/{paid}")),
    ];
    let mut problems = Vec::new();
    for (name, path) in &pages {
        b.goto(&format!("{}{path}", app.base)).await;
        b.find("body").await;
        let status = b.execute("return document.title;").await;
        assert!(
            !status.as_str().unwrap_or_default().contains("Not found"),
            "{path}: {status}"
        );
        for p in overflow(&b).await {
            problems.push(format!("{path}: {p}"));
        }
        if *name == "project-settings" {
            // The 40 currencies folded by network, Save kept at the bottom of the screen.
            let height = b
                .execute("return document.documentElement.scrollHeight;")
                .await;
            let height = height.as_i64().unwrap_or_default();
            eprintln!("project settings at 390 px: {height} px tall");
            assert!(
                height < 4300,
                "project settings are {height} px tall (the currencies unfolded?)"
            );
            let save = b.execute("var r = document.querySelector('.savebar button').getBoundingClientRect(); return r.bottom <= window.innerHeight;").await;
            assert_eq!(save.as_bool(), Some(true), "Save is on screen");
        }
        b.screenshot(&shots, name).await;
    }
    assert!(
        problems.is_empty(),
        "sideways overflow at 390 px:\n{}",
        problems.join("\n")
    );
    b.quit().await;
    app.stop().await;
}
