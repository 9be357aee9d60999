//! Accounts: sign-up with e-mail confirmation, password reset, sign-in with TOTP and recovery
//! codes, replay and brute-force protection, sessions, e-mail and password changes, CSRF,
//! login history and the activity log. E-mail goes through a real SMTP listener.

use std::time::Duration;

use kassa_core::account::Role;
use kassa_store::accounts as users;
use reqwest::StatusCode;

use crate::engine_test;
use crate::support::accounts::{
    PASSWORD, app_with_mail, code, enable_2fa, owner, sign_in, signed_in, staff,
};
use crate::support::web::Session;

engine_test!(
    async fn sign_up_confirm_by_email_then_sign_in(engine) {
        let (app, mail) = app_with_mail(engine).await;
        let s = Session::new(&app.base);
        // Mistakes are shown next to their fields, and what was typed is kept.
        let r = s.submit("/signup", &[("business", "Ромашка"), ("email", "new@shop"), ("password", "1234567890"), ("password_repeat", "x")]).await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.has("id=\"e-email\">This does not look like an e-mail address"), "{}", r.body);
        assert!(r.has("id=\"e-password\">This is one of the most common passwords"), "{}", r.body);
        assert!(r.has("value=\"Ромашка\""), "the business name is kept");
        assert!(r.has("value=\"new@shop\""), "the e-mail is kept");

        let r = s.post("/signup", &[("business", "Shop"), ("email", "New@Shop.example"), ("password", PASSWORD), ("password_repeat", PASSWORD)]).await;
        // A redirect after the POST: a refresh does not sign up again.
        let r = s.follow(&r).await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.has("We sent a confirmation link to new@shop.example"), "{}", r.body);

        // Unconfirmed: the right password is not enough, and a new link is sent.
        let r = s.submit("/login", &[("email", "new@shop.example"), ("password", PASSWORD)]).await;
        assert!(r.has("Confirm your e-mail address first"), "{}", r.body);
        app.drain_jobs().await;
        let letters = mail.to("new@shop.example");
        assert_eq!(letters.len(), 2, "sign-up link and the resent one");
        assert_eq!(letters[0].subject, "Confirm your e-mail address");
        // Only the newest link works.
        let old = letters[0].link(&format!("{}/confirm-email/", app.base));
        let new = letters[1].link(&format!("{}/confirm-email/", app.base));
        let r = s.get(old.trim_start_matches(&app.base)).await;
        assert!(r.has("This link does not work"), "{}", r.body);
        let r = s.get(new.trim_start_matches(&app.base)).await;
        assert_eq!((r.status, r.location.as_deref()), (StatusCode::SEE_OTHER, Some("/login")));
        let r = s.get("/login").await;
        assert!(r.has("Your e-mail address is confirmed."), "flash shown once: {}", r.body);
        assert!(!s.get("/login").await.has("Your e-mail address is confirmed."), "and only once");

        let s = sign_in(&app, "new@shop.example").await;
        let dash = s.get("/dashboard").await;
        assert!(dash.has("Shop · you are signed in as Owner."), "{}", dash.body);

        // Signing up again with the same address reveals nothing on the page; the owner of
        // the address is told by e-mail instead.
        let again = Session::new(&app.base);
        let r = again.submit("/signup", &[("business", "X"), ("email", "new@shop.example"), ("password", "another good passphrase"), ("password_repeat", "another good passphrase")]).await;
        assert!(again.follow(&r).await.has("We sent a confirmation link to new@shop.example"));
        app.drain_jobs().await;
        assert_eq!(mail.last_to("new@shop.example").subject, "Someone tried to create an account with your address");
        app.stop().await;
    }
);

engine_test!(
    async fn password_reset_through_the_emailed_link(engine) {
        let (app, mail) = app_with_mail(engine).await;
        owner(&app, "owner@shop.example").await;
        let other = sign_in(&app, "owner@shop.example").await;

        let s = Session::new(&app.base);
        let known = s.submit("/reset", &[("email", "owner@shop.example")]).await;
        let unknown = s.submit("/reset", &[("email", "nobody@shop.example")]).await;
        assert_eq!(known.location, unknown.location);
        let (known, unknown) = (s.follow(&known).await, s.follow(&unknown).await);
        assert_eq!(known.status, StatusCode::OK);
        let text = |b: &str| b.split("<h1>").nth(1).unwrap_or_default().split("</main>").next().unwrap_or_default().to_owned();
        assert_eq!(text(&known.body), text(&unknown.body), "the answer does not tell whether the account exists");

        app.drain_jobs().await;
        assert!(mail.to("nobody@shop.example").is_empty());
        let letter = mail.last_to("owner@shop.example");
        assert_eq!(letter.subject, "Reset your Kassa password");
        let link = letter.link(&format!("{}/reset/", app.base));
        let path = link.trim_start_matches(&app.base).to_owned();

        let r = s.submit(&path, &[("password", "short"), ("password_repeat", "short")]).await;
        assert!(r.has("Use at least 10 characters."), "{}", r.body);
        let r = s.post(&path, &[("password", "a brand new passphrase"), ("password_repeat", "a brand new passphrase")]).await;
        assert_eq!((r.status, r.location.as_deref()), (StatusCode::SEE_OTHER, Some("/login")));
        assert!(!signed_in(&other).await, "a reset ends every session");

        // The link works once.
        let r = s.get(&path).await;
        assert!(r.has("The password reset link is invalid, expired or already used."), "{}", r.body);
        let r = s.submit("/login", &[("email", "owner@shop.example"), ("password", PASSWORD)]).await;
        assert!(r.has("The e-mail or the password is not correct."));
        let r = s.submit("/login", &[("email", "owner@shop.example"), ("password", "a brand new passphrase")]).await;
        assert_eq!(r.location.as_deref(), Some("/dashboard"));
        assert!(s.get("/account/history").await.has("Password reset requested"), "the request shows in the history");
        app.drain_jobs().await;
        assert_eq!(mail.last_to("owner@shop.example").subject, "Your password was changed");

        // Reset links expire after an hour.
        let s2 = Session::new(&app.base);
        s2.submit("/reset", &[("email", "owner@shop.example")]).await;
        app.drain_jobs().await;
        let path = mail.last_to("owner@shop.example").link(&format!("{}/reset/", app.base)).trim_start_matches(&app.base).to_owned();
        app.clock.advance(Duration::from_secs(3601));
        assert!(s2.get(&path).await.has("invalid, expired or already used"));
        app.stop().await;
    }
);

engine_test!(
    async fn totp_sign_in_rejects_replay_and_recovery_codes_work_once(engine) {
        let (app, mail) = app_with_mail(engine).await;
        owner(&app, "owner@shop.example").await;
        let s = sign_in(&app, "owner@shop.example").await;
        let (key, recovery) = enable_2fa(&app, &s).await;
        app.drain_jobs().await;
        assert_eq!(mail.last_to("owner@shop.example").subject, "Two-factor authentication is on");

        // The code that confirmed the set-up cannot sign in within the same 30 s.
        let b = Session::new(&app.base);
        let r = b.submit("/login", &[("email", "owner@shop.example"), ("password", PASSWORD)]).await;
        assert_eq!(r.location.as_deref(), Some("/login/2fa?next=%2Fdashboard"));
        assert!(!signed_in(&b).await, "the password alone does not sign in");
        let used = code(&app, &key);
        let r = b.submit("/login/2fa", &[("code", &used)]).await;
        assert!(r.has("This code was just used — each code works once. Wait for the next one"), "replay of the set-up code: {}", r.body);

        // The next step's code works once...
        app.clock.advance(Duration::from_secs(30));
        let fresh = code(&app, &key);
        let r = b.post("/login/2fa", &[("code", &fresh), ("next", "/account")]).await;
        assert_eq!((r.status, r.location.as_deref()), (StatusCode::SEE_OTHER, Some("/account")));
        assert!(signed_in(&b).await);
        // ...and not twice, even from another browser within its window.
        let c = Session::new(&app.base);
        c.submit("/login", &[("email", "owner@shop.example"), ("password", PASSWORD)]).await;
        let r = c.submit("/login/2fa", &[("code", &fresh)]).await;
        assert!(r.has("This code was just used"), "replayed code accepted: {}", r.body);
        let r = c.submit("/login/2fa", &[("code", "000000")]).await;
        assert!(r.has("This code is not valid."), "a wrong code is called wrong: {}", r.body);

        // A recovery code signs in once (in any case, with or without dashes).
        let r = c.post("/login/2fa", &[("code", &recovery[3].to_uppercase().replace('-', " "))]).await;
        assert_eq!(r.location.as_deref(), Some("/dashboard"), "{}", r.body);
        let d = Session::new(&app.base);
        d.submit("/login", &[("email", "owner@shop.example"), ("password", PASSWORD)]).await;
        let r = d.submit("/login/2fa", &[("code", &recovery[3])]).await;
        assert!(r.has("This code is not valid."), "a recovery code works once");
        app.drain_jobs().await;
        let notice = mail.last_to("owner@shop.example");
        assert_eq!(notice.subject, "A recovery code was used to sign in");
        assert!(notice.text.contains("Recovery codes left: 9."), "{}", notice.text);

        // The history shows each step.
        let h = s.get("/account/history").await;
        for outcome in ["Signed in with a recovery code", "Two-factor code used a second time (refused)", "Wrong two-factor code", "Password correct; waiting for the code", "Signed in"] {
            assert!(h.has(outcome), "history lacks {outcome:?}");
        }
        app.stop().await;
    }
);

engine_test!(
    async fn brute_force_limits_apply_without_revealing_accounts(engine) {
        let (app, _mail) = app_with_mail(engine).await;
        owner(&app, "owner@shop.example").await;
        let s = Session::new(&app.base);
        // Ten wrong passwords for a real account, and ten for one that does not exist.
        for target in ["owner@shop.example", "ghost@shop.example"] {
            for i in 0..10 {
                let r = s.submit("/login", &[("email", target), ("password", &format!("wrong password {i}"))]).await;
                assert_eq!(r.status, StatusCode::OK);
                assert!(r.has("The e-mail or the password is not correct."));
            }
            // The eleventh is refused before the password is checked, the same way for both.
            let r = s.submit("/login", &[("email", target), ("password", PASSWORD)]).await;
            assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{target}: {}", r.body);
            let wait: u64 = r.retry_after.as_deref().expect("Retry-After").parse().unwrap();
            assert!((1..=900).contains(&wait), "{wait}");
            assert!(r.has("Too many attempts"));
        }
        // The lock is temporary.
        app.clock.advance(Duration::from_secs(15 * 60));
        let r = s.submit("/login", &[("email", "owner@shop.example"), ("password", PASSWORD)]).await;
        assert_eq!(r.location.as_deref(), Some("/dashboard"));

        // Per address: 30 attempts in 10 minutes, whatever the accounts.
        app.clock.advance(Duration::from_secs(10 * 60));
        let t = Session::new(&app.base);
        t.get("/login").await;
        let mut last = StatusCode::OK;
        for i in 0..31 {
            last = t.post("/login", &[("email", &format!("user{i}@shop.example")), ("password", "whatever it is")]).await.status;
        }
        assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
        app.stop().await;
    }
);

engine_test!(
    async fn wrong_second_factor_codes_are_limited(engine) {
        let (app, _mail) = app_with_mail(engine).await;
        owner(&app, "owner@shop.example").await;
        let s = sign_in(&app, "owner@shop.example").await;
        let (key, _) = enable_2fa(&app, &s).await;
        app.clock.advance(Duration::from_secs(60));
        let b = Session::new(&app.base);
        b.submit("/login", &[("email", "owner@shop.example"), ("password", PASSWORD)]).await;
        for _ in 0..5 {
            let r = b.submit("/login/2fa", &[("code", "000000")]).await;
            assert!(r.has("This code is not valid."));
        }
        let r = b.submit("/login/2fa", &[("code", &code(&app, &key))]).await;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "even the right code waits after 5 wrong ones");
        app.stop().await;
    }
);

engine_test!(
    async fn sessions_expire_and_can_be_ended_elsewhere(engine) {
        let (app, _mail) = app_with_mail(engine).await;
        owner(&app, "owner@shop.example").await;
        let laptop = sign_in(&app, "owner@shop.example").await;
        let iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";
        let phone = Session::new(&app.base).with_user_agent(iphone);
        let r = phone.submit("/login", &[("email", "owner@shop.example"), ("password", PASSWORD)]).await;
        assert_eq!(r.location.as_deref(), Some("/dashboard"));

        // Cookies: HttpOnly and SameSite=Lax; not Secure on plain-HTTP localhost.
        let cookie = r.set_cookies.iter().find(|c| c.starts_with("kassa_session=")).expect("session cookie");
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && !cookie.contains("Secure"), "{cookie}");
        // The cookie holds a random token; the database only its hash.
        let token = phone.cookie("kassa_session").unwrap();
        let mut c = app.state.db.conn().await.unwrap();
        let stored: Vec<String> = kassa_store::sql!(&mut c, |c| sqlx::query_scalar("select token_hash from session").fetch_all(c).await).unwrap();
        drop(c);
        assert!(!stored.contains(&token) && stored.contains(&kassa_service::auth::token::hash(&token)));

        let list = laptop.get("/account/sessions").await;
        // Browsers in words; the raw header stays as the cell's title.
        assert!(list.has(">Safari 17 on iPhone<") && list.has(">KassaTest 1.0<") && list.has("This session"), "{}", list.body);
        assert!(list.has(&format!("title=\"{iphone}\"")), "{}", list.body);
        let r = laptop.post("/account/sessions/end-others", &[]).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        assert!(signed_in(&laptop).await);
        let r = phone.get("/dashboard").await;
        assert_eq!((r.status, r.location.as_deref()), (StatusCode::SEE_OTHER, Some("/login?next=%2Fdashboard")));

        // Idle timeout (60 min by default): activity keeps the session alive...
        app.clock.advance(Duration::from_secs(50 * 60));
        assert!(signed_in(&laptop).await);
        app.clock.advance(Duration::from_secs(50 * 60));
        assert!(signed_in(&laptop).await);
        // ...silence ends it.
        app.clock.advance(Duration::from_secs(61 * 60));
        assert!(!signed_in(&laptop).await);

        // Absolute timeout (24 h): even an active session ends.
        let s = sign_in(&app, "owner@shop.example").await;
        for _ in 0..26 {
            app.clock.advance(Duration::from_secs(55 * 60));
            assert!(signed_in(&s).await, "active within the first 24 h");
        }
        app.clock.advance(Duration::from_secs(55 * 60));
        assert!(!signed_in(&s).await, "ended 24 h after sign-in, however active");
        app.stop().await;
    }
);

engine_test!(
    async fn forms_without_the_csrf_token_are_refused(engine) {
        let (app, _mail) = app_with_mail(engine).await;
        owner(&app, "owner@shop.example").await;
        let s = sign_in(&app, "owner@shop.example").await;
        s.get("/account").await;
        for token in [None, Some("forged-token")] {
            let mut form = vec![("name", "Mallory"), ("lang", "en")];
            if let Some(t) = token {
                form.push(("_csrf", t));
            }
            let r = s.post_raw("/account", &form).await;
            assert_eq!(r.status, StatusCode::FORBIDDEN);
            assert!(r.has("The form has expired"), "{}", r.body);
        }
        // Sign-in forms are protected too (login CSRF).
        let anon = Session::new(&app.base);
        let r = anon.post_raw("/login", &[("email", "owner@shop.example"), ("password", PASSWORD)]).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        // The real token works, and the change is in the activity log with before/after.
        let r = s.post("/account", &[("name", "Marina"), ("lang", "ru")]).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        let page = s.get("/account").await;
        assert!(page.has("lang=\"ru\""), "the language follows the profile");
        let log = s.get("/activity").await;
        assert!(log.has("Изменение профиля"), "the log is in the user's language now: {}", log.body);
        assert!(log.has("language: en → ru; name: — → Marina"), "before and after: {}", log.body);
        app.stop().await;
    }
);

engine_test!(
    async fn email_change_is_confirmed_at_the_new_address(engine) {
        let (app, mail) = app_with_mail(engine).await;
        owner(&app, "owner@shop.example").await;
        owner(&app, "taken@shop.example").await;
        let s = sign_in(&app, "owner@shop.example").await;
        let r = s.submit("/account/email", &[("email", "new@shop.example"), ("password", "not my password")]).await;
        assert!(r.has("id=\"e-password\">The password is not correct."), "{}", r.body);
        let r = s.post("/account/email", &[("email", "new@shop.example"), ("password", PASSWORD)]).await;
        let r = s.follow(&r).await;
        assert!(r.has("We sent a confirmation link to new@shop.example"), "{}", r.body);
        app.drain_jobs().await;
        assert_eq!(mail.last_to("owner@shop.example").subject, "Your e-mail address is being changed");
        let link = mail.last_to("new@shop.example").link(&format!("{}/account/email/confirm/", app.base));
        let r = s.get(link.trim_start_matches(&app.base)).await;
        assert_eq!(r.location.as_deref(), Some("/account"));
        assert!(s.get("/account/email").await.has("<strong>new@shop.example</strong>"));
        s.clear_cookies();
        let fresh = sign_in(&app, "new@shop.example").await;
        assert!(signed_in(&fresh).await);

        // A taken address is only refused at confirmation, so the request reveals nothing.
        let r = fresh.submit("/account/email", &[("email", "taken@shop.example"), ("password", PASSWORD)]).await;
        assert!(fresh.follow(&r).await.has("We sent a confirmation link to taken@shop.example"));
        app.drain_jobs().await;
        let link = mail.last_to("taken@shop.example").link(&format!("{}/account/email/confirm/", app.base));
        assert!(fresh.get(link.trim_start_matches(&app.base)).await.has("The address is already in use"));
        app.stop().await;
    }
);

engine_test!(
    async fn password_change_needs_the_current_one_and_ends_other_sessions(engine) {
        let (app, _mail) = app_with_mail(engine).await;
        owner(&app, "owner@shop.example").await;
        let a = sign_in(&app, "owner@shop.example").await;
        let b = sign_in(&app, "owner@shop.example").await;
        let r = a.submit("/account/password", &[("current", "wrong"), ("password", "a brand new passphrase"), ("password_repeat", "a brand new passphrase")]).await;
        assert!(r.has("id=\"e-current\">The password is not correct."), "{}", r.body);
        let r = a.post("/account/password", &[("current", PASSWORD), ("password", "a brand new passphrase"), ("password_repeat", "a brand new passphrase")]).await;
        assert_eq!(r.location.as_deref(), Some("/account"));
        assert!(signed_in(&a).await);
        assert!(!signed_in(&b).await);
        app.stop().await;
    }
);

engine_test!(
    async fn disabling_2fa_needs_recent_reauthentication(engine) {
        let (app, _mail) = app_with_mail(engine).await;
        owner(&app, "owner@shop.example").await;
        let s = sign_in(&app, "owner@shop.example").await;
        let (key, _) = enable_2fa(&app, &s).await;
        // Signing in counts as authentication; five minutes later it no longer does.
        app.clock.advance(Duration::from_secs(6 * 60));
        s.get("/account/2fa").await;
        let r = s.post("/account/2fa/disable", &[]).await;
        assert_eq!(r.location.as_deref(), Some("/account/reauth?next=%2Faccount%2F2fa%3Fresume%3Ddisable"));
        let back = "/account/2fa?resume=disable";
        let r = s.submit(r.location.as_deref().unwrap(), &[("password", PASSWORD), ("code", "123456"), ("next", back)]).await;
        assert!(r.has("The password or the code is not correct."), "{}", r.body);
        let fresh = code(&app, &key);
        let r = s.post("/account/reauth", &[("password", PASSWORD), ("code", &fresh), ("next", back)]).await;
        assert_eq!(r.location.as_deref(), Some(back));
        // The same code again (another tab): said to be just used, not wrong.
        let again = s.post("/account/reauth", &[("password", PASSWORD), ("code", &fresh), ("next", back)]).await;
        assert!(again.has("id=\"e-code\">This code was just used"), "{}", again.body);
        // Back on the page, the action asked for is offered as one highlighted button.
        let page = s.get(back).await;
        assert!(page.has("id=\"resume\"") && page.has("action=\"/account/2fa/disable\"><input type=\"hidden\" name=\"_csrf\""), "{}", page.body);
        let r = s.post("/account/2fa/disable", &[]).await;
        assert_eq!(r.location.as_deref(), Some("/account/2fa"));
        assert!(s.get("/account/2fa").await.has("Two-factor authentication is off."));
        let user = users::user_by_email(&mut app.state.db.conn().await.unwrap(), &kassa_core::account::Email::parse("owner@shop.example").unwrap()).await.unwrap().unwrap();
        assert!(user.totp_secret.is_none());
        app.stop().await;
    }
);

engine_test!(
    async fn staff_invitation_grants_and_revocation(engine) {
        let (app, mail) = app_with_mail(engine).await;
        owner(&app, "owner@shop.example").await;
        let o = sign_in(&app, "owner@shop.example").await;
        o.get("/staff").await;
        let r = o.post("/staff/invite", &[("email", "not-an-email"), ("role", "viewer")]).await;
        assert!(r.has("id=\"e-email\">This does not look like an e-mail address"), "{}", r.body);
        let r = o.post("/staff/invite", &[("email", "ana@shop.example"), ("role", "accountant")]).await;
        assert_eq!(r.location.as_deref(), Some("/staff"));
        app.drain_jobs().await;
        let letter = mail.last_to("ana@shop.example");
        assert_eq!(letter.subject, "You are invited to Test Shop on Kassa");
        assert!(letter.text.contains("as Accountant"), "{}", letter.text);
        let path = letter.link(&format!("{}/invite/", app.base)).trim_start_matches(&app.base).to_owned();

        let ana = Session::new(&app.base);
        let r = ana.submit(&path, &[("name", ""), ("password", PASSWORD), ("password_repeat", PASSWORD)]).await;
        assert!(r.has("id=\"e-name\">Enter your name."), "{}", r.body);
        let r = ana.post(&path, &[("name", "Ana"), ("password", PASSWORD), ("password_repeat", PASSWORD)]).await;
        assert_eq!(r.location.as_deref(), Some("/dashboard"));
        assert!(ana.get("/dashboard").await.has("signed in as Accountant"));
        assert_eq!(ana.get("/staff").await.status, StatusCode::FORBIDDEN);
        assert_eq!(ana.get("/activity").await.status, StatusCode::FORBIDDEN);
        assert!(Session::new(&app.base).get(&path).await.has("The invitation is invalid"), "single use");

        // The owner opens the activity log for Ana.
        let list = o.get("/staff").await;
        let id = list.body.split("href=\"/staff/").nth(1).and_then(|r| r.split('"').next()).expect("member link").to_owned();
        o.get(&format!("/staff/{id}")).await;
        let sections = ["view_projects", "view_payments", "create_invoices", "invoice_actions", "export", "view_balance", "view_activity"];
        let mut form: Vec<(&str, &str)> = vec![("role", "accountant")];
        form.extend(sections.iter().map(|s| ("section", *s)));
        let r = o.post(&format!("/staff/{id}"), &form).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        assert_eq!(ana.get("/activity").await.status, StatusCode::OK, "the grant applies at once");
        // Closing a section the role has by default works the same way.
        let form: Vec<(&str, &str)> = vec![("role", "accountant"), ("section", "view_projects"), ("section", "view_payments")];
        o.post(&format!("/staff/{id}"), &form).await;
        assert_eq!(ana.get("/activity").await.status, StatusCode::FORBIDDEN);
        let edit = o.get(&format!("/staff/{id}")).await;
        assert!(edit.has("value=\"view_balance\"") && edit.has("changed"), "changes from the role are marked");

        let r = o.post(&format!("/staff/{id}/revoke"), &[]).await;
        assert_eq!(r.location.as_deref(), Some("/staff"));
        assert!(!signed_in(&ana).await, "revoking signs the member out");
        let r = Session::new(&app.base).submit("/login", &[("email", "ana@shop.example"), ("password", PASSWORD)]).await;
        assert!(r.has("Access to this account has been removed."));

        let log = o.get("/activity?area=staff").await;
        for a in ["Invited a member", "Joined the team", "Changed a member's access", "Removed a member's access"] {
            assert!(log.has(a), "activity log lacks {a}: {}", log.body);
        }
        assert!(!log.has("Changed the password"), "filtered to staff actions");
        app.stop().await;
    }
);

engine_test!(
    async fn closed_sign_up_and_secure_cookies_behind_https(engine) {
        let app = crate::support::TestApp::spawn_with(engine, |s| {
            s.accounts.open_signup = false;
            s.server.public_url = "https://pay.example.com".into();
        })
        .await;
        let s = Session::new(&app.base);
        let r = s.get("/signup").await;
        assert!(r.has("Sign-up is closed"), "{}", r.body);
        assert_eq!(s.post("/signup", &[("email", "a@b.example"), ("password", PASSWORD), ("password_repeat", PASSWORD)]).await.status, StatusCode::NOT_FOUND);
        let csrf = r.set_cookies.iter().find(|c| c.contains("kassa_csrf=")).expect("csrf cookie");
        assert!(csrf.starts_with("__Host-kassa_csrf=") && csrf.contains("; Secure"), "{csrf}");
        let h = app.get("/login").await;
        assert_eq!(h.headers()["x-frame-options"], "DENY");
        assert!(h.headers()["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'"));
        assert_eq!(h.headers()["cache-control"], "no-store");
        app.stop().await;
    }
);

#[tokio::test]
async fn operator_commands_create_owners_and_reset_2fa() {
    use crate::support::TestDb;
    use crate::support::process::run_in;
    use std::io::Write as _;
    let db = TestDb::new(kassa_store::Engine::Sqlite).await;
    let dir = db.dir().to_owned();
    let url = db.url_text();
    let run = |args: &[&str], stdin: &str| {
        let mut child = crate::support::process::kassa()
            .current_dir(&dir)
            .args(args)
            .env("KASSA_DATABASE_URL", &url)
            .env("KASSA_DATA_DIR", &dir)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let out = run(
        &[
            "admin",
            "create-user",
            "--email",
            "boss@shop.example",
            "--business",
            "Shop",
        ],
        "password\n",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .starts_with("error: password: use at least 10 characters")
    );
    let out = run(
        &[
            "admin",
            "create-user",
            "--email",
            "boss@shop.example",
            "--business",
            "Shop",
        ],
        &format!("{PASSWORD}\n"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .starts_with("created merchant owner boss@shop.example")
    );
    let out = run(
        &["admin", "create-user", "--email", "boss@shop.example"],
        &format!("{PASSWORD}\n"),
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
    let out = run(&["admin", "reset-2fa", "nobody@shop.example"], "");
    assert!(!out.status.success());
    let out = run(&["admin", "reset-2fa", "boss@shop.example"], "");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The owner can sign in at once (confirmed), and the operator's actions are logged.
    let app = crate::support::TestApp::spawn_with(kassa_store::Engine::Sqlite, |s| {
        s.database.url = kassa_core::secret::SecretString::new(url.clone());
        s.data_dir = dir.clone();
    })
    .await;
    let s = sign_in(&app, "boss@shop.example").await;
    let log = s.get("/activity").await;
    assert!(
        log.has("Account created by the operator")
            && log.has("Two-factor authentication reset by the operator"),
        "{}",
        log.body
    );
    assert!(log.has("Operator (command line)"));
    let _ = run_in;
    drop(db);
    app.stop().await;
}

#[tokio::test]
async fn without_smtp_mail_goes_to_the_outbox_folder() {
    let app = crate::support::TestApp::spawn(kassa_store::Engine::Sqlite).await;
    owner(&app, "owner@shop.example").await;
    let s = Session::new(&app.base);
    s.submit("/reset", &[("email", "owner@shop.example")]).await;
    app.drain_jobs().await;
    let outbox = app.db.dir().join("outbox");
    let files: Vec<_> = std::fs::read_dir(&outbox)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0].extension().is_some_and(|e| e == "eml"));
    let raw = std::fs::read_to_string(&files[0]).unwrap();
    let (subject, text) = crate::support::smtp::parse(&raw);
    assert_eq!(subject, "Reset your Kassa password");
    assert!(text.contains(&format!("{}/reset/", app.base)), "{text}");
    // The job payload in the database does not contain the link: it is sealed.
    let all = kassa_store::jobs::list(&app.state.db, None, 10)
        .await
        .unwrap();
    let mail_job = all.iter().find(|j| j.kind == "mail.send").unwrap();
    let mut c = app.state.db.conn().await.unwrap();
    let payload: String = kassa_store::sql!(&mut c, |c| sqlx::query_scalar(
        "select payload from job where job_id = $1"
    )
    .bind(mail_job.id.get())
    .fetch_one(c)
    .await)
    .unwrap();
    drop(c);
    assert!(
        !payload.contains("/reset/") && payload.contains("\"sealed\":\"v1:"),
        "{payload}"
    );
    let _ = Role::Owner;
    let _ = staff;
    app.stop().await;
}
