//! Helpers for account tests: users created through the services, sign-in through the real
//! forms, e-mail through the SMTP listener, TOTP codes at the app's clock.

use kassa_core::UserId;
use kassa_core::account::{Email, Role, UserStatus};
use kassa_service::accounts;
use kassa_service::auth::totp;
use kassa_store::accounts::{self as users, NewUser};
use reqwest::StatusCode;

use super::smtp::SmtpSink;
use super::web::Session;
use super::{Engine, TestApp};

/// The password every test user gets.
pub const PASSWORD: &str = "correct horse battery staple";

/// An app that sends mail to a local SMTP listener.
pub async fn app_with_mail(engine: Engine) -> (TestApp, SmtpSink) {
    let sink = SmtpSink::start().await;
    let url = sink.url();
    let app = TestApp::spawn_with(engine, |s| {
        s.mail.smtp_url = kassa_core::secret::SecretString::new(url)
    })
    .await;
    (app, sink)
}

/// Creates a confirmed owner (as `kassa admin create-user` does) and returns their id.
pub async fn owner(app: &TestApp, email: &str) -> UserId {
    let email = Email::parse(email).expect("email");
    accounts::create_owner(&app.state, &email, PASSWORD, "Test Shop")
        .await
        .expect("create owner")
        .expect("new owner")
}

/// Adds an active, confirmed staff member with `role` to the merchant of `owner`.
pub async fn staff(app: &TestApp, owner: UserId, email: &str, role: Role) -> UserId {
    let hash = app.state.passwords.hash(PASSWORD).await.expect("hash");
    let mut tx = app.state.db.begin().await.expect("tx");
    let o = users::user_by_id(&mut tx, owner).await.expect("owner");
    let id = users::insert_user(
        &mut tx,
        &NewUser {
            merchant_id: o.merchant_id,
            email: &Email::parse(email).expect("email"),
            name: "",
            password_hash: Some(&hash),
            role,
            status: UserStatus::Active,
            email_confirmed_at: Some(app.now()),
            locale: kassa_core::lang::Lang::En,
            invited_by: Some(owner),
        },
        app.now(),
    )
    .await
    .expect("insert staff");
    tx.commit().await.expect("commit");
    id
}

/// Signs in through the form (no second factor) and returns the session.
pub async fn sign_in(app: &TestApp, email: &str) -> Session {
    let s = Session::new(&app.base);
    let r = s
        .submit("/login", &[("email", email), ("password", PASSWORD)])
        .await;
    assert_eq!(
        r.status,
        StatusCode::SEE_OTHER,
        "sign-in of {email} failed: {}",
        r.body
    );
    assert_eq!(r.location.as_deref(), Some("/dashboard"));
    s
}

/// The TOTP code for `secret_key` (as shown on the set-up page) at the app's clock.
pub fn code(app: &TestApp, manual_key: &str) -> String {
    let secret = data_encoding_base32(manual_key);
    totp::code_at(&secret, app.now())
}

/// Decodes the set-up page's manual key (base32 in groups of four).
pub fn data_encoding_base32(key: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut bits = 0u64;
    let mut n = 0;
    let mut out = Vec::new();
    for c in key.bytes().filter(|c| !c.is_ascii_whitespace()) {
        let v = ALPHABET.iter().position(|a| *a == c).expect("base32") as u64;
        bits = (bits << 5) | v;
        n += 5;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
            bits &= (1 << n) - 1;
        }
    }
    out
}

/// Turns on 2FA for a signed-in session through the pages; returns the manual key and the
/// recovery codes.
pub async fn enable_2fa(app: &TestApp, s: &Session) -> (String, Vec<String>) {
    s.get("/account/2fa").await;
    let r = s.post("/account/2fa/setup", &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let page = s.get("/account/2fa").await;
    let key = super::web::extract(&page.body, "id=\"totp-key\">")
        .map(|k| k.split('<').next().unwrap_or_default().to_owned());
    let key = key.expect("manual key on the set-up page");
    let r = s
        .post("/account/2fa/confirm", &[("code", &code(app, &key))])
        .await;
    // Shown once, on the page the POST redirects to.
    let r = s.follow(&r).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let codes: Vec<String> = r
        .body
        .split("<li><code>")
        .skip(1)
        .filter_map(|c| c.split('<').next())
        .map(str::to_owned)
        .collect();
    assert_eq!(codes.len(), 10, "ten recovery codes");
    (key, codes)
}

/// Whether the session is signed in (the dashboard answers).
pub async fn signed_in(s: &Session) -> bool {
    s.get("/dashboard").await.status == StatusCode::OK
}

/// Creates a project (test mode) for the merchant of `owner`; returns its id.
pub async fn project(app: &TestApp, owner: UserId, name: &str) -> kassa_core::ProjectId {
    project_with_keys(app, owner, name, "").await.id
}

/// Creates a project with a notification URL and returns its keys.
pub async fn project_with_keys(
    app: &TestApp,
    owner: UserId,
    name: &str,
    notify_url: &str,
) -> kassa_service::projects::Created {
    project_with_settings(app, owner, name, |s| s.notify_url = notify_url.to_owned()).await
}

/// Creates a project (test mode) after letting `adjust` change its default settings.
pub async fn project_with_settings(
    app: &TestApp,
    owner: UserId,
    name: &str,
    adjust: impl FnOnce(&mut kassa_store::projects::ProjectSettings),
) -> kassa_service::projects::Created {
    let mut c = app.state.db.conn().await.expect("conn");
    let o = users::user_by_id(&mut c, owner).await.expect("owner");
    drop(c);
    let mut settings = kassa_service::projects::default_settings(name);
    adjust(&mut settings);
    let client = kassa_service::accounts::Client {
        ip: "127.0.0.1".into(),
        user_agent: "test".into(),
    };
    kassa_service::projects::create(
        &app.state,
        o.merchant_id,
        &kassa_service::audit::Actor::of(Some(owner), &client),
        &settings,
    )
    .await
    .expect("create project")
}
