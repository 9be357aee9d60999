//! Staff management (the owner's): members and invitations, roles, per-user sections, revoking.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use kassa_core::UserId;
use kassa_core::account::{Email, Grants, Role, Section, UserStatus};
use kassa_store::accounts::{self as users, UserRow};
use serde::Deserialize;

use super::{FormData, FormPairs};
use crate::state::AppState;
use crate::web::context::{Me, Page, WebCtx, html, redirect_with_flash};
use crate::web::errors::WebError;
use crate::web::forms::{FieldErrors, email_error_key};
use kassa_service::accounts::{self, Invite, MemberRefusal, MemberUpdate};
use kassa_service::i18n::Tr;

#[derive(Template)]
#[template(path = "staff/list.html")]
struct ListPage<'a> {
    page: &'a Page,
    members: Vec<UserRow>,
    roles: Vec<(&'static str, String)>,
    email: &'a str,
    role: &'a str,
    errors: &'a FieldErrors,
}

fn role_options(tr: Tr) -> Vec<(&'static str, String)> {
    Role::INVITABLE
        .iter()
        .map(|r| (r.as_str(), tr.t(&format!("role.{}", r.as_str())).to_owned()))
        .collect()
}

async fn list_page(
    st: &AppState,
    ctx: &WebCtx,
    owner: &UserRow,
    email: &str,
    role: &str,
    errors: &FieldErrors,
) -> Result<Response, WebError> {
    let members = users::users_of_merchant(&mut st.db.conn().await?, owner.merchant_id).await?;
    let page = Page::new(ctx, "staff.title");
    let roles = role_options(page.tr);
    Ok(html(
        ListPage {
            page: &page,
            members,
            roles,
            email,
            role,
            errors,
        }
        .render()?,
    ))
}

/// `GET /staff`
pub async fn list(
    State(st): State<AppState>,
    ctx: WebCtx,
    Me(me): Me,
) -> Result<Response, WebError> {
    list_page(&st, &ctx, &me.user, "", "viewer", &FieldErrors::new()).await
}

/// The invitation form.
#[derive(Deserialize)]
pub struct InviteInput {
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
}

/// `POST /staff/invite`
pub async fn invite(
    State(st): State<AppState>,
    ctx: WebCtx,
    Me(me): Me,
    FormData(input): FormData<InviteInput>,
) -> Result<Response, WebError> {
    let tr = Tr::new(ctx.lang);
    let mut errors = FieldErrors::new();
    let email = Email::parse(&input.email)
        .map_err(|e| errors.add(tr, "email", email_error_key(e)))
        .ok();
    let role = Role::parse(&input.role).filter(|r| *r != Role::Owner);
    if role.is_none() {
        errors.add(tr, "role", "staff.role_invalid");
    }
    if let (Some(email), Some(role)) = (email, role) {
        match accounts::invite(&st, &me.user, &email, role, ctx.lang, &ctx.client).await? {
            Invite::Sent(_) => return Ok(redirect_with_flash(&st, "/staff", 's', "flash.invited")),
            Invite::AlreadyMember => errors.add(tr, "email", "staff.already_member"),
            Invite::TakenElsewhere => errors.add(tr, "email", "staff.taken_elsewhere"),
        }
    }
    list_page(&st, &ctx, &me.user, &input.email, &input.role, &errors).await
}

#[derive(Template)]
#[template(path = "staff/edit.html")]
struct EditPage<'a> {
    page: &'a Page,
    member: &'a UserRow,
    roles: Vec<(&'static str, String)>,
    sections: Vec<SectionRow>,
    projects: Vec<(i64, String, bool)>,
}

struct SectionRow {
    name: &'static str,
    label: String,
    allowed: bool,
    by_default: bool,
    grantable: bool,
}

async fn member_of(st: &AppState, owner: &UserRow, id: UserId) -> Result<UserRow, WebError> {
    // Another merchant's user is "not found", never "forbidden".
    Ok(users::user_in_merchant(&mut st.db.conn().await?, owner.merchant_id, id).await?)
}

/// `GET /staff/{id}`
pub async fn edit_form(
    State(st): State<AppState>,
    ctx: WebCtx,
    Me(me): Me,
    Path(id): Path<UserId>,
) -> Result<Response, WebError> {
    let member = member_of(&st, &me.user, id).await?;
    let grants = Grants {
        role: member.role,
        overrides: users::section_overrides(&mut st.db.conn().await?, member.id).await?,
    };
    let page = Page::new(&ctx, "staff.edit.title");
    let sections = Section::ALL
        .into_iter()
        .map(|s| SectionRow {
            name: s.as_str(),
            label: page.t(&format!("section.{}", s.as_str())).to_owned(),
            allowed: grants.allows(s),
            by_default: member.role.allows(s),
            grantable: s.is_grantable() && member.role != Role::Owner,
        })
        .collect();
    let roles = role_options(page.tr);
    let mut c = st.db.conn().await?;
    let scope = kassa_store::projects::scope_of(&mut c, member.id).await?;
    let projects = kassa_store::projects::of_merchant(&mut c, me.user.merchant_id)
        .await?
        .into_iter()
        .map(|p| (p.id.get(), p.settings.name, scope.contains(&p.id)))
        .collect();
    Ok(html(
        EditPage {
            page: &page,
            member: &member,
            roles,
            sections,
            projects,
        }
        .render()?,
    ))
}

/// `POST /staff/{id}`: role and sections. The checkboxes arrive as `section=<name>` pairs.
pub async fn edit(
    State(st): State<AppState>,
    ctx: WebCtx,
    Me(me): Me,
    Path(id): Path<UserId>,
    form: FormPairs,
) -> Result<Response, WebError> {
    let member = member_of(&st, &me.user, id).await?;
    let role = form
        .get("role")
        .and_then(Role::parse)
        .filter(|r| *r != Role::Owner)
        .ok_or(WebError::BadRequest)?;
    let checked: Vec<&str> = form.all("section").collect();
    // A new role starts from its own defaults; the boxes on the page showed the old role's.
    let sections = Section::ALL
        .into_iter()
        .map(|s| {
            (
                s,
                if role == member.role {
                    Some(checked.contains(&s.as_str()))
                } else {
                    None
                },
            )
        })
        .collect();
    let projects = form
        .all("project")
        .filter_map(|v| v.parse::<i64>().ok())
        .map(kassa_core::ProjectId::new)
        .collect();
    match accounts::update_member(
        &st,
        &me.user,
        member.id,
        &MemberUpdate {
            role,
            sections,
            projects,
        },
        &ctx.client,
    )
    .await?
    {
        Ok(()) => {
            let flash = if role == member.role {
                "flash.saved"
            } else {
                "flash.role_changed"
            };
            Ok(redirect_with_flash(
                &st,
                &format!("/staff/{id}"),
                's',
                flash,
            ))
        }
        Err(MemberRefusal::NotFound) => Err(WebError::NotFound),
        Err(MemberRefusal::IsOwner) => Err(WebError::Forbidden),
    }
}

/// `POST /staff/{id}/revoke`
pub async fn revoke(
    State(st): State<AppState>,
    ctx: WebCtx,
    Me(me): Me,
    Path(id): Path<UserId>,
) -> Result<Response, WebError> {
    let member = member_of(&st, &me.user, id).await?;
    if member.status == UserStatus::Revoked {
        return Ok(redirect_with_flash(&st, "/staff", 'i', "flash.revoked"));
    }
    match accounts::revoke_member(&st, &me.user, member.id, &ctx.client).await? {
        Ok(()) => Ok(redirect_with_flash(&st, "/staff", 's', "flash.revoked")),
        Err(MemberRefusal::NotFound) => Err(WebError::NotFound),
        Err(MemberRefusal::IsOwner) => Err(WebError::Forbidden),
    }
}
