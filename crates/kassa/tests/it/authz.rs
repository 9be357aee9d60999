//! Every dashboard route × every role: allowed or denied exactly as the role matrix in
//! product.md says, and 404 (never 403) for another merchant's objects.
//!
//! The expectations below are written out independently of the server's code; the test fails
//! if a route exists without an expectation here, so a new page cannot skip this check.

use kassa_core::account::Role;
use kassa_server::web::{Access, routes};
use reqwest::StatusCode;

use crate::engine_test;
use crate::support::accounts::{owner, sign_in, staff};
use crate::support::web::{Resp, Session};

/// What the route should do for a visitor.
#[derive(Clone, Copy, Debug)]
enum Expect {
    /// Open to everyone.
    Anyone,
    /// Sign-in pages: anonymous visitors use them, signed-in users are sent to the dashboard.
    Guest,
    /// Only for a session waiting for its second factor.
    SecondFactor,
    /// Any signed-in user.
    SignedIn,
    /// The role matrix: owner, admin, developer, accountant, support, viewer.
    Roles([u8; 6]),
}

const STAFF: Expect = Expect::Roles([1, 0, 0, 0, 0, 0]);
const ACTIVITY: Expect = Expect::Roles([1, 1, 0, 0, 0, 0]);
const VIEW_PROJECTS: Expect = Expect::Roles([1, 1, 1, 1, 1, 1]);
const EDIT_PROJECTS: Expect = Expect::Roles([1, 1, 1, 0, 0, 0]);
const API_KEYS: Expect = Expect::Roles([1, 1, 1, 0, 0, 0]);
/// "view payments, invoices, statistics".
const VIEW_PAYMENTS: Expect = Expect::Roles([1, 1, 1, 1, 1, 1]);
/// "create invoices" (e-mailing an invoice's payment link is part of it, F-INV-1).
const CREATE_INVOICES: Expect = Expect::Roles([1, 1, 1, 1, 1, 0]);
/// "cancel invoice, confirm partial payment, resend postback" (and confirming a test invoice,
/// the other invoice action of F-PAY-4).
const INVOICE_ACTIONS: Expect = Expect::Roles([1, 1, 0, 1, 1, 0]);

/// "export data".
const EXPORT: Expect = Expect::Roles([1, 1, 1, 1, 0, 0]);
/// "view balance".
const VIEW_BALANCE: Expect = Expect::Roles([1, 1, 0, 1, 0, 1]);
/// "view balance" and "export data": the statement's export.
const EXPORT_LEDGER: Expect = Expect::Roles([1, 1, 0, 1, 0, 0]);

/// "withdraw; manage withdrawal addresses and automatic rules" (and the withdrawal API key).
const WITHDRAW: Expect = Expect::Roles([1, 1, 0, 0, 0, 0]);

/// Written from product.md, not from the code.
const EXPECTED: &[(&str, &str, Expect)] = &[
    ("GET", "/", Expect::Anyone),
    ("GET", "/login", Expect::Guest),
    ("POST", "/login", Expect::Guest),
    ("GET", "/login/2fa", Expect::SecondFactor),
    ("POST", "/login/2fa", Expect::SecondFactor),
    ("POST", "/logout", Expect::Anyone),
    ("GET", "/signup", Expect::Guest),
    ("POST", "/signup", Expect::Guest),
    ("GET", "/signup/sent", Expect::Anyone),
    ("GET", "/confirm-email/{token}", Expect::Anyone),
    ("GET", "/reset", Expect::Guest),
    ("POST", "/reset", Expect::Guest),
    ("GET", "/reset/sent", Expect::Anyone),
    ("GET", "/reset/{token}", Expect::Anyone),
    ("POST", "/reset/{token}", Expect::Anyone),
    ("GET", "/invite/{token}", Expect::Anyone),
    ("POST", "/invite/{token}", Expect::Anyone),
    ("POST", "/language", Expect::Anyone),
    ("GET", "/dashboard", Expect::SignedIn),
    ("GET", "/account", Expect::SignedIn),
    ("POST", "/account", Expect::SignedIn),
    ("GET", "/account/password", Expect::SignedIn),
    ("POST", "/account/password", Expect::SignedIn),
    ("GET", "/account/email", Expect::SignedIn),
    ("POST", "/account/email", Expect::SignedIn),
    ("GET", "/account/email/sent", Expect::SignedIn),
    ("GET", "/account/email/confirm/{token}", Expect::Anyone),
    ("GET", "/account/2fa", Expect::SignedIn),
    ("POST", "/account/2fa/setup", Expect::SignedIn),
    ("POST", "/account/2fa/confirm", Expect::SignedIn),
    ("POST", "/account/2fa/disable", Expect::SignedIn),
    ("GET", "/account/2fa/recovery-codes", Expect::SignedIn),
    ("POST", "/account/2fa/recovery-codes", Expect::SignedIn),
    ("GET", "/account/reauth", Expect::SignedIn),
    ("POST", "/account/reauth", Expect::SignedIn),
    ("GET", "/account/sessions", Expect::SignedIn),
    ("POST", "/account/sessions/{id}/end", Expect::SignedIn),
    ("POST", "/account/sessions/end-others", Expect::SignedIn),
    ("GET", "/account/history", Expect::SignedIn),
    ("GET", "/staff", STAFF),
    ("POST", "/staff/invite", STAFF),
    ("GET", "/staff/{id}", STAFF),
    ("POST", "/staff/{id}", STAFF),
    ("POST", "/staff/{id}/revoke", STAFF),
    ("GET", "/activity", ACTIVITY),
    ("GET", "/projects", VIEW_PROJECTS),
    ("GET", "/projects/new", EDIT_PROJECTS),
    ("POST", "/projects/new", EDIT_PROJECTS),
    ("GET", "/projects/{id}", VIEW_PROJECTS),
    ("POST", "/projects/{id}", EDIT_PROJECTS),
    ("POST", "/projects/{id}/logo", EDIT_PROJECTS),
    ("POST", "/projects/{id}/logo/delete", EDIT_PROJECTS),
    ("POST", "/projects/{id}/mode", EDIT_PROJECTS),
    ("POST", "/projects/{id}/archive", EDIT_PROJECTS),
    ("GET", "/projects/{id}/integration", API_KEYS),
    ("POST", "/projects/{id}/api-key", API_KEYS),
    ("GET", "/projects/{id}/keys", VIEW_PROJECTS),
    ("POST", "/projects/{id}/secret", API_KEYS),
    ("POST", "/projects/{id}/test-postback", API_KEYS),
    ("GET", "/payments", VIEW_PAYMENTS),
    ("GET", "/statistics", VIEW_PAYMENTS),
    ("POST", "/payments/columns", VIEW_PAYMENTS),
    ("GET", "/payments/export", EXPORT),
    ("GET", "/balance", VIEW_BALANCE),
    ("GET", "/balance/ledger", VIEW_BALANCE),
    ("GET", "/balance/ledger/export", EXPORT_LEDGER),
    ("GET", "/notifications", Expect::SignedIn),
    ("GET", "/notifications/count", Expect::SignedIn),
    ("POST", "/notifications/read", Expect::SignedIn),
    ("GET", "/account/notifications", Expect::SignedIn),
    ("POST", "/account/notifications", Expect::SignedIn),
    ("POST", "/account/notifications/telegram", Expect::SignedIn),
    (
        "POST",
        "/account/notifications/telegram/unlink",
        Expect::SignedIn,
    ),
    ("GET", "/balance/withdraw", WITHDRAW),
    ("POST", "/balance/withdraw", WITHDRAW),
    ("GET", "/balance/addresses", WITHDRAW),
    ("POST", "/balance/addresses", WITHDRAW),
    ("POST", "/balance/addresses/{id}/delete", WITHDRAW),
    ("GET", "/balance/rules", WITHDRAW),
    ("POST", "/balance/rules", WITHDRAW),
    ("POST", "/balance/rules/{network}/delete", WITHDRAW),
    ("GET", "/account/withdrawal-key", WITHDRAW),
    ("POST", "/account/withdrawal-key", WITHDRAW),
    ("GET", "/projects/{id}/invoices", VIEW_PAYMENTS),
    ("GET", "/projects/{id}/invoices/new", CREATE_INVOICES),
    ("POST", "/projects/{id}/invoices/new", CREATE_INVOICES),
    ("GET", "/projects/{id}/wallets", VIEW_PAYMENTS),
    ("POST", "/projects/{id}/wallets", CREATE_INVOICES),
    ("GET", "/projects/{id}/wallets/{uuid}", VIEW_PAYMENTS),
    ("GET", "/projects/{id}/invoices/{uuid}", VIEW_PAYMENTS),
    (
        "POST",
        "/projects/{id}/invoices/{uuid}/cancel",
        INVOICE_ACTIONS,
    ),
    (
        "POST",
        "/projects/{id}/invoices/{uuid}/confirm-partial",
        INVOICE_ACTIONS,
    ),
    (
        "POST",
        "/projects/{id}/invoices/{uuid}/resend-postback",
        INVOICE_ACTIONS,
    ),
    (
        "POST",
        "/projects/{id}/invoices/{uuid}/simulate",
        INVOICE_ACTIONS,
    ),
    (
        "POST",
        "/projects/{id}/invoices/{uuid}/send-link",
        CREATE_INVOICES,
    ),
];

/// A fresh test invoice of 10 USD in `project`; returns its public id.
async fn invoice_in(app: &crate::support::TestApp, project: kassa_core::ProjectId) -> String {
    let p = kassa_store::projects::by_id(&mut app.state.db.conn().await.unwrap(), project)
        .await
        .unwrap();
    let usd = kassa_core::currency::fiat("USD").unwrap();
    let req = kassa_service::invoices::NewInvoiceRequest {
        order_id: "authz".into(),
        ..kassa_service::invoices::NewInvoiceRequest::priced(
            kassa_service::invoices::Price::fiat(usd, "10").unwrap(),
        )
    };
    kassa_service::invoices::create(&app.state, &p, req)
        .await
        .unwrap()
        .uuid
}

/// What happened.
#[derive(Debug, PartialEq, Eq)]
enum Got {
    /// Through the access check (any answer of the page itself).
    Passed,
    /// 403.
    Forbidden,
    /// Sent to sign in.
    ToLogin,
    /// Sent to the dashboard (signed-in user on a sign-in page).
    ToDashboard,
}

fn classify(r: &Resp) -> Got {
    match (r.status, r.location.as_deref()) {
        (StatusCode::FORBIDDEN, _) => Got::Forbidden,
        (StatusCode::SEE_OTHER, Some(l)) if l == "/login" || l.starts_with("/login?") => {
            Got::ToLogin
        }
        (StatusCode::SEE_OTHER, Some("/dashboard")) => Got::ToDashboard,
        _ => Got::Passed,
    }
}

fn expected(e: Expect, role: Option<usize>) -> Got {
    match (e, role) {
        (Expect::Anyone, _) => Got::Passed,
        (Expect::Guest, None) => Got::Passed,
        (Expect::Guest, Some(_)) => Got::ToDashboard,
        (Expect::SecondFactor, _) => Got::ToLogin,
        (Expect::SignedIn | Expect::Roles(_), None) => Got::ToLogin,
        (Expect::SignedIn, Some(_)) => Got::Passed,
        (Expect::Roles(row), Some(i)) => {
            if row[i] == 1 {
                Got::Passed
            } else {
                Got::Forbidden
            }
        }
    }
}

fn sample_form(path: &str) -> Vec<(&'static str, &'static str)> {
    match path {
        "/language" => vec![("lang", "en"), ("next", "/dashboard")],
        "/account" => vec![("name", "Tester"), ("lang", "en")],
        "/staff/invite" => vec![("email", "someone.new@shop.example"), ("role", "viewer")],
        "/staff/{id}" => vec![("role", "viewer"), ("section", "view_projects")],
        "/projects/new" => vec![("name", "Another shop")],
        "/projects/{id}/mode" => vec![("mode", "test")],
        "/projects/{id}/wallets" => vec![("currency", "USDT_TRC20"), ("identify", "customer-7")],
        "/projects/{id}/invoices/new" => vec![
            ("amount", "10"),
            ("currency", "USD"),
            ("allowed", "USDT_TRC20"),
        ],
        "/projects/{id}/invoices/{uuid}/simulate" => {
            vec![("outcome", "partial"), ("currency", "USDT_TRC20")]
        }
        "/projects/{id}/invoices/{uuid}/send-link" => vec![("email", "payer@shop.example")],
        _ => vec![],
    }
}

engine_test!(
    async fn every_route_for_every_role_follows_the_matrix(engine) {
        let app = crate::support::TestApp::spawn(engine).await;
        let table = routes();
        // Every route has an expectation, and every expectation a route.
        for r in &table {
            assert!(
                EXPECTED.iter().any(|(m, p, _)| *m == r.method.as_str() && *p == r.path),
                "route {} {} has no expectation in authz.rs",
                r.method,
                r.path
            );
        }
        assert_eq!(table.len(), EXPECTED.len(), "authz.rs lists routes that do not exist");
        // The declared access agrees with the matrix too (a cheap second check).
        for r in &table {
            let (_, _, e) = EXPECTED.iter().find(|(m, p, _)| *m == r.method.as_str() && *p == r.path).unwrap();
            let ok = matches!(
                (r.access, e),
                (Access::Anyone, Expect::Anyone)
                    | (Access::Guest, Expect::Guest)
                    | (Access::SecondFactor, Expect::SecondFactor)
                    | (Access::SignedIn, Expect::SignedIn)
                    | (Access::Section(_) | Access::Sections(_), Expect::Roles(_))
            );
            assert!(ok, "{} {}: declared {:?}, expected {e:?}", r.method, r.path, r.access);
        }

        // Merchant A with one user per role and a member to act on; merchant B next door.
        let a = owner(&app, "owner@a.example").await;
        let mut emails = vec!["owner@a.example".to_owned()];
        for role in &Role::ALL[1..] {
            let email = format!("{}@a.example", role.as_str());
            staff(&app, a, &email, *role).await;
            emails.push(email);
        }
        let target = staff(&app, a, "target@a.example", Role::Viewer).await;
        let a_project = crate::support::accounts::project(&app, a, "Shop A").await;
        let b = owner(&app, "owner@b.example").await;
        let b_member = staff(&app, b, "member@b.example", Role::Viewer).await;
        let b_project = crate::support::accounts::project(&app, b, "Shop B").await;
        let a_invoice = invoice_in(&app, a_project).await;
        let b_invoice = invoice_in(&app, b_project).await;
        let b_owner_session = sign_in(&app, "owner@b.example").await;
        b_owner_session.get("/dashboard").await;

        let bogus_token = "A".repeat(43);
        // A session id that is nobody's: ending it is refused by the page, not the access check.
        let concrete = |path: &str| {
            let id = if path.starts_with("/account/sessions/") {
                "999999".to_owned()
            } else if path.starts_with("/projects/") {
                a_project.to_string()
            } else {
                target.to_string()
            };
            path.replace("{token}", &bogus_token)
                .replace("{id}", &id)
                .replace("{uuid}", &a_invoice)
                .replace("{network}", "LTC")
        };
        let mut failures = Vec::new();
        // GETs first, then POSTs, sign-out last: the visitor's session survives the walk.
        let mut ordered: Vec<_> = table.iter().collect();
        ordered.sort_by_key(|r| (r.method != "GET", r.path == "/logout"));

        let visitors: Vec<Option<usize>> = std::iter::once(None).chain((0..6).map(Some)).collect();
        for who in visitors {
            let s = match who {
                None => Session::new(&app.base),
                Some(i) => sign_in(&app, &emails[i]).await,
            };
            s.get("/login").await;
            for r in &ordered {
                let (_, _, e) = EXPECTED.iter().find(|(m, p, _)| *m == r.method.as_str() && *p == r.path).unwrap();
                let path = concrete(r.path);
                let resp = if r.method == "GET" {
                    s.get(&path).await
                } else {
                    // A fresh token from a page the visitor can open.
                    s.get(if who.is_some() { "/account" } else { "/login" }).await;
                    s.post(&path, &sample_form(r.path)).await
                };
                let got = classify(&resp);
                let want = expected(*e, who);
                // Pages open to anyone may redirect anywhere; they must just never refuse.
                let fine = if matches!(e, Expect::Anyone) { got != Got::Forbidden } else { got == want };
                if !fine {
                    let role = who.map_or("anonymous", |i| Role::ALL[i].as_str());
                    failures.push(format!("{role:>10} {} {path}: expected {want:?}, got {got:?} ({})", r.method, resp.status));
                }
            }
        }
        assert!(failures.is_empty(), "authorisation differs from the matrix:\n{}", failures.join("\n"));

        // Another merchant's objects are "not found", never "forbidden".
        let owner_a = sign_in(&app, "owner@a.example").await;
        owner_a.get("/staff").await;
        assert_eq!(owner_a.get(&format!("/staff/{b_member}")).await.status, StatusCode::NOT_FOUND);
        owner_a.get("/account").await;
        assert_eq!(owner_a.post(&format!("/staff/{b_member}"), &[("role", "admin")]).await.status, StatusCode::NOT_FOUND);
        owner_a.get("/account").await;
        assert_eq!(owner_a.post(&format!("/staff/{b_member}/revoke"), &[]).await.status, StatusCode::NOT_FOUND);
        // …nor another merchant's projects, for any of their pages.
        for path in ["/projects/{id}", "/projects/{id}/integration"] {
            assert_eq!(owner_a.get(&path.replace("{id}", &b_project.to_string())).await.status, StatusCode::NOT_FOUND, "{path}");
        }
        owner_a.get("/account").await;
        assert_eq!(owner_a.post(&format!("/projects/{b_project}/archive"), &[]).await.status, StatusCode::NOT_FOUND);
        // …nor another merchant's invoices, under their project or passed off as one's own.
        for path in [
            format!("/projects/{b_project}/invoices"),
            format!("/projects/{b_project}/invoices/new"),
            format!("/projects/{b_project}/invoices/{b_invoice}"),
            format!("/projects/{a_project}/invoices/{b_invoice}"),
        ] {
            assert_eq!(owner_a.get(&path).await.status, StatusCode::NOT_FOUND, "{path}");
        }
        for action in ["cancel", "confirm-partial", "resend-postback", "simulate", "send-link"] {
            for project in [b_project, a_project] {
                owner_a.get("/account").await;
                let path = format!("/projects/{project}/invoices/{b_invoice}/{action}");
                let form = sample_form(&format!("/projects/{{id}}/invoices/{{uuid}}/{action}"));
                assert_eq!(owner_a.post(&path, &form).await.status, StatusCode::NOT_FOUND, "{path}");
            }
        }
        owner_a.get("/account").await;
        let r = owner_a.post(&format!("/projects/{b_project}/invoices/new"), &sample_form("/projects/{id}/invoices/new")).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        let b_row = kassa_store::invoices::by_uuid(&mut app.state.db.conn().await.unwrap(), &b_invoice).await.unwrap().unwrap();
        assert_eq!(b_row.status, kassa_core::invoice::Status::Created, "B's invoice untouched");
        // Another user's session cannot be ended either (B's owner stays signed in).
        let mut c = app.state.db.conn().await.unwrap();
        let b_session: i64 = kassa_store::sql!(&mut c, |c| sqlx::query_scalar(
            "select session_id from session where user_id = $1 and revoked_at is null"
        )
        .bind(b.get())
        .fetch_one(c)
        .await)
        .unwrap();
        drop(c);
        owner_a.get("/account").await;
        assert_eq!(owner_a.post(&format!("/account/sessions/{b_session}/end"), &[]).await.status, StatusCode::NOT_FOUND);
        assert_eq!(b_owner_session.get("/dashboard").await.status, StatusCode::OK);
        // The owner's own account cannot be changed through staff management.
        assert_eq!(owner_a.get(&format!("/staff/{a}")).await.status, StatusCode::OK);
        owner_a.get("/account").await;
        assert_eq!(owner_a.post(&format!("/staff/{a}/revoke"), &[]).await.status, StatusCode::FORBIDDEN);
        app.stop().await;
    }
);
