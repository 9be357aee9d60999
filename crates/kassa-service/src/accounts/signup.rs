//! Signing up and confirming the address.

use super::*;

/// What sign-up needs.
#[derive(Clone, Debug)]
pub struct SignUp {
    /// The owner's e-mail.
    pub email: Email,
    /// A password that passed the policy.
    pub password: String,
    /// The business's name.
    pub business: String,
    /// The language the owner used.
    pub lang: Lang,
}

/// Creates a merchant and its owner (unconfirmed) and sends the confirmation link. When the
/// address already has an account, the owner of that address is told instead; the caller gets
/// the same answer either way.
pub async fn sign_up(st: &Ctx, input: SignUp, client: &Client) -> Result<()> {
    let now = st.clock.now();
    limited(&limits::SIGNUP_PER_IP, st, &client.ip, now, true).await?;
    let tr = Tr::new(input.lang);
    // Hash first, whatever happens next, so both paths take the same time.
    let hash = st.passwords.hash(&input.password).await?;
    let mut tx = st.db.begin().await?;
    if let Some(existing) = users::user_by_email(&mut tx, &input.email).await? {
        let etr = Tr::new(existing.locale);
        let letter = Letter {
            subject: etr.t("mail.signup_exists.subject").to_owned(),
            paragraphs: vec![
                etr.t("mail.signup_exists.body").to_owned(),
                etr.t("mail.signup_exists.ignore").to_owned(),
            ],
            action: Some((
                etr.t("mail.signup_exists.action").to_owned(),
                format!("{}/reset", st.public_url),
            )),
            footer: footer(etr),
        };
        send(&mut tx, st, existing.email.as_str(), etr, &letter, now).await?;
        tx.commit().await?;
        st.jobs.wake();
        return Ok(());
    }
    let business = if input.business.trim().is_empty() {
        input.email.as_str().to_owned()
    } else {
        input.business.trim().to_owned()
    };
    let merchant = users::create_merchant(&mut tx, &business, now).await?;
    let user = users::insert_user(
        &mut tx,
        &NewUser {
            merchant_id: merchant,
            email: &input.email,
            name: "",
            password_hash: Some(&hash),
            role: Role::Owner,
            status: UserStatus::Active,
            email_confirmed_at: None,
            locale: input.lang,
            invited_by: None,
        },
        now,
    )
    .await?;
    issue_confirmation(&mut tx, st, user, input.email.as_str(), tr, now).await?;
    Actor::of(Some(user), client)
        .record(
            &mut tx,
            merchant,
            "account.created",
            Target::User(user),
            json!({"business": business}),
            now,
        )
        .await?;
    tx.commit().await?;
    st.jobs.wake();
    Ok(())
}

pub(super) async fn issue_confirmation(
    conn: &mut impl AsConn,
    st: &Ctx,
    user: UserId,
    email: &str,
    tr: Tr,
    now: Timestamp,
) -> Result<()> {
    let tok = issue_token(conn, user, Purpose::ConfirmEmail, None, CONFIRM_TTL, now).await?;
    let letter = Letter {
        subject: tr.t("mail.confirm.subject").to_owned(),
        paragraphs: vec![
            tr.t("mail.confirm.body").to_owned(),
            tr.t("mail.confirm.expiry").to_owned(),
        ],
        action: Some((
            tr.t("mail.confirm.action").to_owned(),
            link(st, "/confirm-email/", &tok),
        )),
        footer: footer(tr),
    };
    send(conn, st, email, tr, &letter, now).await
}

/// Confirms an address from its e-mailed link. Returns false for an invalid or used link.
pub async fn confirm_email(st: &Ctx, tok: &str, client: &Client) -> Result<bool> {
    if !token::is_well_formed(tok) {
        return Ok(false);
    }
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    let Some(t) = tokens::take(&mut tx, Purpose::ConfirmEmail, &token::hash(tok), now).await?
    else {
        return Ok(false);
    };
    users::confirm_email(&mut tx, t.user_id, now).await?;
    let user = users::user_by_id(&mut tx, t.user_id).await?;
    Actor::of(Some(user.id), client)
        .record(
            &mut tx,
            user.merchant_id,
            "account.email_confirmed",
            Target::User(user.id),
            json!({"email": user.email}),
            now,
        )
        .await?;
    tx.commit().await?;
    Ok(true)
}
