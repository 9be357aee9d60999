//! Staff: invitations, roles and section grants, removal.

use super::*;

/// The outcome of an invitation.
#[derive(Debug, PartialEq, Eq)]
pub enum Invite {
    /// Invited (or invited again): the link was sent.
    Sent(UserId),
    /// Already an active member of this account.
    AlreadyMember,
    /// The address belongs to another Kassa account.
    TakenElsewhere,
}

/// Invites `email` with `role` (the owner's action). Inviting a pending invitee again sends
/// a fresh link.
pub async fn invite(
    st: &Ctx,
    owner: &UserRow,
    email: &Email,
    role: Role,
    lang: Lang,
    client: &Client,
) -> Result<Invite> {
    let now = st.clock.now();
    let tr = Tr::new(lang);
    let mut tx = st.db.begin().await?;
    let invitee = match users::user_by_email(&mut tx, email).await? {
        Some(u) if u.merchant_id != owner.merchant_id => return Ok(Invite::TakenElsewhere),
        Some(u) if u.status != UserStatus::Invited => return Ok(Invite::AlreadyMember),
        Some(u) => {
            if u.role != role {
                users::set_role(&mut tx, u.id, role, now).await?;
            }
            u.id
        }
        None => {
            users::insert_user(
                &mut tx,
                &NewUser {
                    merchant_id: owner.merchant_id,
                    email,
                    name: "",
                    password_hash: None,
                    role,
                    status: UserStatus::Invited,
                    email_confirmed_at: None,
                    locale: lang,
                    invited_by: Some(owner.id),
                },
                now,
            )
            .await?
        }
    };
    let business = users::merchant_name(&mut tx, owner.merchant_id).await?;
    let tok = issue_token(&mut tx, invitee, Purpose::Invite, None, INVITE_TTL, now).await?;
    let inviter = if owner.name.is_empty() {
        owner.email.clone()
    } else {
        owner.name.clone()
    };
    let role_name = tr.t(&format!("role.{}", role.as_str())).to_owned();
    let letter = Letter {
        subject: tr.f1("mail.invite.subject", "business", &business),
        paragraphs: vec![
            tr.f(
                "mail.invite.body",
                &[
                    ("inviter", &inviter),
                    ("business", &business),
                    ("role", &role_name),
                ],
            ),
            tr.t("mail.invite.expiry").to_owned(),
        ],
        action: Some((
            tr.t("mail.invite.action").to_owned(),
            link(st, "/invite/", &tok),
        )),
        footer: footer(tr),
    };
    send(&mut tx, st, email.as_str(), tr, &letter, now).await?;
    Actor::of(Some(owner.id), client)
        .record(
            &mut tx,
            owner.merchant_id,
            "staff.invited",
            Target::User(invitee),
            json!({"email": email.as_str(), "role": role.as_str()}),
            now,
        )
        .await?;
    tx.commit().await?;
    st.jobs.wake();
    Ok(Invite::Sent(invitee))
}

/// The invitation behind a link, for the accept page: (invitee e-mail, business name).
pub async fn invitation(st: &Ctx, tok: &str) -> Result<Option<(String, String)>> {
    if !token::is_well_formed(tok) {
        return Ok(None);
    }
    let mut c = st.db.conn().await?;
    let Some(t) = tokens::peek(&mut c, Purpose::Invite, &token::hash(tok), st.clock.now()).await?
    else {
        return Ok(None);
    };
    let user = users::user_by_id(&mut c, t.user_id).await?;
    if user.status != UserStatus::Invited {
        return Ok(None);
    }
    Ok(Some((
        user.email,
        users::merchant_name(&mut c, user.merchant_id).await?,
    )))
}

/// Accepts an invitation: sets the name and password, activates the member and signs them
/// in. `None`: the link is invalid, used or withdrawn.
pub async fn accept_invitation(
    st: &Ctx,
    tok: &str,
    name: &str,
    password: &str,
    client: &Client,
) -> Result<Option<String>> {
    if !token::is_well_formed(tok) {
        return Ok(None);
    }
    let now = st.clock.now();
    let hash = st.passwords.hash(password).await?;
    let mut tx = st.db.begin().await?;
    let Some(t) = tokens::take(&mut tx, Purpose::Invite, &token::hash(tok), now).await? else {
        return Ok(None);
    };
    let user = users::user_by_id(&mut tx, t.user_id).await?;
    if user.status != UserStatus::Invited {
        return Ok(None);
    }
    users::set_password_hash(&mut tx, user.id, &hash, now).await?;
    users::set_name(&mut tx, user.id, name, now).await?;
    users::set_status(&mut tx, user.id, UserStatus::Active, now).await?;
    users::confirm_email(&mut tx, user.id, now).await?;
    let session_token = token::generate();
    sessions::insert(
        &mut tx,
        &NewSession {
            user_id: user.id,
            token_hash: &token::hash(&session_token),
            stage: Stage::Active,
            ip: &client.ip,
            user_agent: &client.user_agent,
            expires_at: session_expiry(st, now),
            reauth_at: Some(now),
        },
        now,
    )
    .await?;
    login_event(&mut tx, Some(user.id), &user.email, "success", client, now).await?;
    Actor::of(Some(user.id), client)
        .record(
            &mut tx,
            user.merchant_id,
            "staff.joined",
            Target::User(user.id),
            json!({"role": user.role.as_str()}),
            now,
        )
        .await?;
    tx.commit().await?;
    Ok(Some(session_token))
}

/// A staff member's new role and section grants, as the owner set them.
#[derive(Clone, Debug)]
pub struct MemberUpdate {
    /// New role (not owner).
    pub role: Role,
    /// Per section: `None` = the role's default, `Some(b)` = opened or closed.
    pub sections: Vec<(Section, Option<bool>)>,
    /// Projects the member is limited to (empty: all of the merchant's).
    pub projects: Vec<kassa_core::ProjectId>,
}

/// Why a member change was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum MemberRefusal {
    /// No such member in this account (or it is another account's user).
    NotFound,
    /// The owner's own role and access cannot be changed here.
    IsOwner,
}

/// Changes a member's role and grants; their sessions stay, and the next request sees the
/// change.
pub async fn update_member(
    st: &Ctx,
    owner: &UserRow,
    member: UserId,
    update: &MemberUpdate,
    client: &Client,
) -> Result<std::result::Result<(), MemberRefusal>> {
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    let target = match users::user_in_merchant(&mut tx, owner.merchant_id, member).await {
        Ok(u) => u,
        Err(StoreError::NotFound) => return Ok(Err(MemberRefusal::NotFound)),
        Err(e) => return Err(e.into()),
    };
    if target.role == Role::Owner || update.role == Role::Owner {
        return Ok(Err(MemberRefusal::IsOwner));
    }
    let before = users::section_overrides(&mut tx, target.id).await?;
    users::set_role(&mut tx, target.id, update.role, now).await?;
    for (section, allowed) in &update.sections {
        if section.is_grantable() {
            // Only store what differs from the role: a later role change then behaves as expected.
            let stored = allowed.filter(|a| *a != update.role.allows(*section));
            users::set_section_override(&mut tx, target.id, *section, stored, now).await?;
        }
    }
    let before_projects = kassa_store::projects::scope_of(&mut tx, target.id).await?;
    // Only the merchant's own projects can be in a scope.
    let own: Vec<kassa_core::ProjectId> =
        kassa_store::projects::of_merchant(&mut tx, owner.merchant_id)
            .await?
            .into_iter()
            .map(|p| p.id)
            .collect();
    let scope: Vec<kassa_core::ProjectId> = update
        .projects
        .iter()
        .copied()
        .filter(|p| own.contains(p))
        .collect();
    kassa_store::projects::set_scope(&mut tx, target.id, &scope, now).await?;
    let after = users::section_overrides(&mut tx, target.id).await?;
    let show = |o: &[(Section, bool)]| {
        o.iter()
            .map(|(s, a)| (s.as_str().to_owned(), json!(a)))
            .collect::<serde_json::Map<_, _>>()
    };
    Actor::of(Some(owner.id), client)
        .record(
            &mut tx,
            owner.merchant_id,
            "staff.updated",
            Target::User(target.id),
            json!({
            "before": {"role": target.role.as_str(), "sections": show(&before), "projects": before_projects.iter().map(|p| p.get()).collect::<Vec<_>>()},
            "after": {"role": update.role.as_str(), "sections": show(&after), "projects": scope.iter().map(|p| p.get()).collect::<Vec<_>>()},
        }),
            now,
        )
    .await?;
    tx.commit().await?;
    Ok(Ok(()))
}

/// Removes a member's access and ends their sessions.
pub async fn revoke_member(
    st: &Ctx,
    owner: &UserRow,
    member: UserId,
    client: &Client,
) -> Result<std::result::Result<(), MemberRefusal>> {
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    let target = match users::user_in_merchant(&mut tx, owner.merchant_id, member).await {
        Ok(u) => u,
        Err(StoreError::NotFound) => return Ok(Err(MemberRefusal::NotFound)),
        Err(e) => return Err(e.into()),
    };
    if target.role == Role::Owner {
        return Ok(Err(MemberRefusal::IsOwner));
    }
    users::set_status(&mut tx, target.id, UserStatus::Revoked, now).await?;
    let ended = sessions::revoke_all(&mut tx, target.id, None, now).await?;
    Actor::of(Some(owner.id), client)
        .record(
            &mut tx,
            owner.merchant_id,
            "staff.revoked",
            Target::User(target.id),
            json!({"email": target.email, "before": {"status": target.status.as_str()}, "sessions_ended": ended}),
            now,
        )
    .await?;
    tx.commit().await?;
    Ok(Ok(()))
}

/// What a signed-in user may do.
pub async fn grants_of(conn: &mut impl AsConn, user: &UserRow) -> Result<Grants> {
    Ok(users::grants_of(conn, user).await?)
}
