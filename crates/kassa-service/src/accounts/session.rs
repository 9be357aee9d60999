//! Signing in (password, then the second factor), signing out.

use super::*;

/// The outcome of a password sign-in.
#[derive(Debug)]
pub enum LogIn {
    /// Signed in; set this session token.
    SignedIn(String),
    /// Password right; the second factor is next. Set this (pending) session token.
    SecondFactor(String),
    /// Wrong e-mail or password (never says which).
    Failed,
    /// Password right but the address is unconfirmed; a new link was sent.
    Unconfirmed,
    /// Password right but the owner removed this user's access.
    Disabled,
}

pub(super) fn session_expiry(st: &Ctx, now: Timestamp) -> Timestamp {
    now.saturating_add(Duration::from_secs(
        st.config.accounts.session_max_hours * 3600,
    ))
}

/// The idle cut-off: sessions not seen since then have ended.
pub fn idle_since(st: &Ctx, now: Timestamp) -> Timestamp {
    now.saturating_sub(Duration::from_secs(
        st.config.accounts.session_idle_minutes * 60,
    ))
}

/// Signs in with e-mail and password. `device` is the browser's device cookie, if it has one:
/// a browser that signed in to this account before is held to its own failure count, so a
/// stranger's wrong passwords cannot lock the owner out.
pub async fn log_in(
    st: &Ctx,
    email: &str,
    password: &str,
    client: &Client,
    device: Option<&str>,
) -> Result<LogIn> {
    let now = st.clock.now();
    let email_text = email.trim().to_lowercase();
    let key = limits::email_key(&email_text);
    let (lockout, lockout_key) =
        match device.and_then(|d| device::trusted_for(&st.keyring, d, &key)) {
            Some(nonce) => (&limits::LOGIN_FAILURES_PER_DEVICE, nonce),
            None => (&limits::LOGIN_FAILURES_PER_ACCOUNT, key.clone()),
        };
    let parsed = Email::parse(&email_text).ok();
    let record = |user: Option<UserId>, outcome: &'static str| {
        let email_text = email_text.clone();
        async move {
            let mut c = st.db.conn().await?;
            login_event(&mut c, user, &email_text, outcome, client, now).await
        }
    };
    if let Err(e) = limited(&limits::LOGIN_PER_IP, st, &client.ip, now, true).await {
        record(None, "rate_limited").await?;
        return Err(e);
    }
    let user = match &parsed {
        Some(e) => users::user_by_email(&mut st.db.conn().await?, e).await?,
        None => None,
    };
    if let Err(e) = limited(lockout, st, &lockout_key, now, false).await {
        record(user.as_ref().map(|u| u.id), "locked").await?;
        return Err(e);
    }
    let ok = st
        .passwords
        .verify(
            password,
            user.as_ref().and_then(|u| u.password_hash.as_deref()),
        )
        .await;
    let user = match user {
        Some(u) if ok => u,
        other => {
            lockout.hit(&st.db, &lockout_key, now).await?.ok();
            let (id, outcome) = match other {
                Some(u) => (Some(u.id), "bad_password"),
                None => (None, "unknown_account"),
            };
            record(id, outcome).await?;
            return Ok(LogIn::Failed);
        }
    };
    lockout.clear(&st.db, &lockout_key).await?;
    if user.status != UserStatus::Active {
        record(Some(user.id), "disabled").await?;
        return Ok(LogIn::Disabled);
    }
    let mut tx = st.db.begin().await?;
    if user.email_confirmed_at.is_none() {
        let tr = Tr::new(user.locale);
        issue_confirmation(&mut tx, st, user.id, &user.email, tr, now).await?;
        login_event(
            &mut tx,
            Some(user.id),
            &user.email,
            "unconfirmed",
            client,
            now,
        )
        .await?;
        tx.commit().await?;
        st.jobs.wake();
        return Ok(LogIn::Unconfirmed);
    }
    // A browser the account has not trusted before, at an address it never signed in from
    // (the very first sign-in is not news): the person is told.
    let trusted = device
        .and_then(|d| device::trusted_for(&st.keyring, d, &key))
        .is_some();
    if !trusted {
        let (before, here) =
            kassa_store::audit::signed_in_before(&mut tx, user.id, &client.ip).await?;
        if before && !here {
            crate::notify::emit(
                &mut tx,
                &crate::notify::Event {
                    merchant: user.merchant_id,
                    kind: "security.sign_in",
                    project: None,
                    user: Some(user.id),
                    params: json!({"ip": client.ip, "browser": client.user_agent.chars().take(120).collect::<String>()}),
                    link: Some("/account/history"),
                },
                now,
            )
            .await?;
        }
    }
    let tok = token::generate();
    let two_factor = user.totp_secret.is_some();
    let (stage, expires, reauth, outcome) = if two_factor {
        (
            Stage::MfaPending,
            now.saturating_add(MFA_PENDING_TTL),
            None,
            "awaiting_2fa",
        )
    } else {
        (Stage::Active, session_expiry(st, now), Some(now), "success")
    };
    sessions::insert(
        &mut tx,
        &NewSession {
            user_id: user.id,
            token_hash: &token::hash(&tok),
            stage,
            ip: &client.ip,
            user_agent: &client.user_agent,
            expires_at: expires,
            reauth_at: reauth,
        },
        now,
    )
    .await?;
    login_event(&mut tx, Some(user.id), &user.email, outcome, client, now).await?;
    tx.commit().await?;
    st.jobs.wake();
    Ok(if two_factor {
        LogIn::SecondFactor(tok)
    } else {
        LogIn::SignedIn(tok)
    })
}

/// How a second factor was proved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Factor {
    /// A code from the authenticator app.
    Totp,
    /// A one-time recovery code.
    RecoveryCode,
}

/// Why a second-factor code was not taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeRefused {
    /// It does not match (or the recovery code does not exist or was used).
    Wrong,
    /// A right authenticator code, but it (or a newer one) was just used: each code works
    /// once, so the person waits for the next.
    JustUsed,
}

/// Checks a TOTP or recovery code for `user` and uses it up (a TOTP step, or the recovery
/// code), inside the caller's transaction.
pub(super) async fn use_second_factor(
    conn: &mut impl AsConn,
    st: &Ctx,
    user: &UserRow,
    code: &str,
    now: Timestamp,
) -> Result<std::result::Result<Factor, CodeRefused>> {
    if totp::looks_like_recovery_code(code) {
        let hash = totp::hash_recovery_code(user.id.get(), code);
        return Ok(
            if tokens::use_recovery_code(conn, user.id, &hash, now).await? {
                Ok(Factor::RecoveryCode)
            } else {
                Err(CodeRefused::Wrong)
            },
        );
    }
    let Some(sealed) = &user.totp_secret else {
        return Ok(Err(CodeRefused::Wrong));
    };
    let secret = st.keyring.open(&totp_context(user.id), sealed)?;
    let Some(step) = totp::check(&secret, code, now) else {
        return Ok(Err(CodeRefused::Wrong));
    };
    // The step must be newer than any used before: a code works once.
    Ok(if users::use_totp_step(conn, user.id, step).await? {
        Ok(Factor::Totp)
    } else {
        Err(CodeRefused::JustUsed)
    })
}

pub(super) fn totp_context(user: UserId) -> String {
    format!("totp:user:{user}")
}

/// Completes a sign-in with the second factor. `Ok(Err(_))`: the code was wrong or just used.
/// On success the session gets a new token, returned for the cookie.
pub async fn second_factor(
    st: &Ctx,
    session: &SessionRow,
    user: &UserRow,
    code: &str,
    client: &Client,
) -> Result<std::result::Result<String, CodeRefused>> {
    let now = st.clock.now();
    let key = user.id.to_string();
    limited(&limits::MFA_PER_IP, st, &client.ip, now, true).await?;
    if let Err(e) = limited(&limits::MFA_FAILURES_PER_USER, st, &key, now, false).await {
        login_event(
            &mut st.db.conn().await?,
            Some(user.id),
            &user.email,
            "2fa_locked",
            client,
            now,
        )
        .await?;
        return Err(e);
    }
    let mut tx = st.db.begin().await?;
    let factor = match use_second_factor(&mut tx, st, user, code, now).await? {
        Ok(factor) => factor,
        Err(refused) => {
            tx.rollback().await?;
            limits::MFA_FAILURES_PER_USER
                .hit(&st.db, &key, now)
                .await?
                .ok();
            login_event(
                &mut st.db.conn().await?,
                Some(user.id),
                &user.email,
                if refused == CodeRefused::JustUsed {
                    "reused_2fa_code"
                } else {
                    "bad_2fa_code"
                },
                client,
                now,
            )
            .await?;
            return Ok(Err(refused));
        }
    };
    let tok = token::generate();
    sessions::activate(
        &mut tx,
        session.id,
        &token::hash(&tok),
        session_expiry(st, now),
        now,
    )
    .await?;
    let outcome = if factor == Factor::RecoveryCode {
        "success_recovery_code"
    } else {
        "success"
    };
    login_event(&mut tx, Some(user.id), &user.email, outcome, client, now).await?;
    if factor == Factor::RecoveryCode {
        let left = tokens::recovery_codes_left(&mut tx, user.id).await?;
        Actor::of(Some(user.id), client)
            .record(
                &mut tx,
                user.merchant_id,
                "account.recovery_code_used",
                Target::User(user.id),
                json!({"codes_left": left}),
                now,
            )
            .await?;
        let tr = Tr::new(user.locale);
        let letter = Letter {
            subject: tr.t("mail.recovery_used.subject").to_owned(),
            paragraphs: vec![
                tr.f1("mail.recovery_used.body", "left", &left),
                tr.t("mail.not_you").to_owned(),
            ],
            action: None,
            footer: footer(tr),
        };
        send(&mut tx, st, &user.email, tr, &letter, now).await?;
    }
    tx.commit().await?;
    limits::MFA_FAILURES_PER_USER.clear(&st.db, &key).await?;
    st.jobs.wake();
    Ok(Ok(tok))
}

/// Ends the session with this cookie token.
pub async fn log_out(st: &Ctx, session: &SessionRow) -> Result<()> {
    let mut c = st.db.write().await?;
    sessions::revoke(&mut c, session.user_id, session.id, st.clock.now()).await?;
    Ok(())
}
