//! Projects in the dashboard: the list, creation (the API key is shown once), settings with
//! checkout branding and payment options, the logo, going live, archiving, and the
//! integration page (keys, snippets, a test postback).

use askama::Template;
use axum::extract::{Multipart, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use kassa_core::account::{Role, Section};
use kassa_core::currency::{self, Crypto};
use kassa_core::invoice::{Side, Tolerance};
use kassa_core::money::parse_decimal;
use kassa_core::project::PostbackFormat;
use kassa_core::{Decimal, ProjectId};
use kassa_store::projects::{self, ProjectRow, ProjectSettings};
use serde::Deserialize;

use super::{FormData, FormPairs};
use crate::state::AppState;
use crate::web::context::{Me, Page, Viewer, WebCtx, html, redirect_with_flash};
use crate::web::errors::WebError;
use crate::web::forms::FieldErrors;
use kassa_service::i18n::{Lang, Tr};
use kassa_service::projects as svc;

/// Back to a project's settings page with a flash message.
fn to_settings(st: &AppState, id: ProjectId, kind: char, key: &str) -> Response {
    redirect_with_flash(st, &format!("/projects/{id}"), kind, key)
}

/// Loads a project the viewer may see: their merchant's, and in their project scope.
/// Anything else is "not found".
pub async fn visible_project(
    st: &AppState,
    me: &Viewer,
    id: ProjectId,
) -> Result<ProjectRow, WebError> {
    let mut c = st.db.conn().await?;
    let p = projects::in_merchant(&mut c, me.user.merchant_id, id).await?;
    if !svc::may_see(&mut c, me.user.id, me.user.role == Role::Owner, p.id).await? {
        return Err(WebError::NotFound);
    }
    Ok(p)
}

#[derive(Template)]
#[template(path = "projects/list.html")]
struct ListPage<'a> {
    page: &'a Page,
    projects: Vec<ProjectRow>,
}

/// `GET /projects`
pub async fn list(
    State(st): State<AppState>,
    ctx: WebCtx,
    Me(me): Me,
) -> Result<Response, WebError> {
    let mut c = st.db.conn().await?;
    let projects = svc::visible_to(
        &mut c,
        me.user.merchant_id,
        me.user.id,
        me.user.role == Role::Owner,
    )
    .await?;
    let page = Page::new(&ctx, "projects.title");
    Ok(html(
        ListPage {
            page: &page,
            projects,
        }
        .render()?,
    ))
}

/// The settings form as submitted.
#[derive(Deserialize, Default, Clone)]
pub struct SettingsInput {
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    site_url: String,
    #[serde(default)]
    success_url: String,
    #[serde(default)]
    fail_url: String,
    #[serde(default)]
    notify_url: String,
    #[serde(default)]
    postback_format: String,
    #[serde(default)]
    brand_color: String,
    #[serde(default)]
    page_language: String,
    #[serde(default)]
    service_fee_side: String,
    #[serde(default)]
    transfer_fee_side: String,
    #[serde(default)]
    invoice_lifetime_minutes: String,
    #[serde(default)]
    tolerance_kind: String,
    #[serde(default)]
    tolerance_value: String,
    #[serde(default)]
    email_required: Option<String>,
    #[serde(default)]
    currencies: Vec<String>,
}

impl SettingsInput {
    fn from_settings(s: &ProjectSettings) -> Self {
        SettingsInput {
            name: s.name.clone(),
            description: s.description.clone(),
            site_url: s.site_url.clone(),
            success_url: s.success_url.clone(),
            fail_url: s.fail_url.clone(),
            notify_url: s.notify_url.clone(),
            postback_format: s.postback_format.as_str().to_owned(),
            brand_color: s.brand_color.clone(),
            page_language: s.page_language.code().to_owned(),
            service_fee_side: s.service_fee_side.as_str().to_owned(),
            transfer_fee_side: s.transfer_fee_side.as_str().to_owned(),
            invoice_lifetime_minutes: s.invoice_lifetime_minutes.to_string(),
            tolerance_kind: s.tolerance.kind().to_owned(),
            tolerance_value: s.tolerance.value().to_string(),
            email_required: s.email_required.then(|| "on".into()),
            currencies: s.currencies.clone(),
        }
    }

    fn accepts(&self, code: &str) -> bool {
        self.currencies.is_empty() || self.currencies.iter().any(|c| c == code)
    }
}

/// Checks a URL field: empty, or an absolute http(s) URL.
fn url_field(tr: Tr, errors: &mut FieldErrors, field: &'static str, value: &str) -> String {
    let v = value.trim();
    if v.is_empty() {
        return String::new();
    }
    match url::Url::parse(v) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() && v.len() <= 500 => {
            v.to_owned()
        }
        _ => {
            errors.add(tr, field, "projects.bad_url");
            v.to_owned()
        }
    }
}

/// Refuses a notification URL whose host is, or resolves only to, a non-public address, with
/// the reason next to the field. The guarded client refuses it at send time anyway; this tells
/// the merchant while they are looking at the form.
async fn check_notify_target(
    st: &AppState,
    tr: Tr,
    settings: &ProjectSettings,
) -> Result<(), FieldErrors> {
    let Ok(url) = url::Url::parse(&settings.notify_url) else {
        return Ok(());
    };
    match kassa_service::net::check_target(&url, st.settings.server.allow_private_targets).await {
        Ok(()) => Ok(()),
        Err(e) => {
            let mut errors = FieldErrors::new();
            match e {
                kassa_service::net::TargetError::Private(address) => errors.add_text(
                    "notify_url",
                    tr.f1("projects.private_url", "address", &address),
                ),
                kassa_service::net::TargetError::NotHttp => {
                    errors.add(tr, "notify_url", "projects.bad_url")
                }
            }
            Err(errors)
        }
    }
}

/// Validates the settings form into settings, or errors next to the fields.
fn parse_settings(tr: Tr, input: &SettingsInput) -> Result<ProjectSettings, FieldErrors> {
    let mut e = FieldErrors::new();
    let name = input.name.trim();
    if name.is_empty() {
        e.add(tr, "name", "projects.name_empty");
    } else if name.chars().count() > 100 {
        e.add(tr, "name", "form.name.too_long");
    }
    if input.description.chars().count() > 1000 {
        e.add(tr, "description", "projects.description_long");
    }
    let site_url = url_field(tr, &mut e, "site_url", &input.site_url);
    let success_url = url_field(tr, &mut e, "success_url", &input.success_url);
    let fail_url = url_field(tr, &mut e, "fail_url", &input.fail_url);
    let notify_url = url_field(tr, &mut e, "notify_url", &input.notify_url);
    let postback_format = PostbackFormat::parse(&input.postback_format);
    if postback_format.is_none() {
        e.add(tr, "postback_format", "projects.choose");
    }
    let color = input.brand_color.trim().to_ascii_lowercase();
    if !(color.len() == 7
        && color.starts_with('#')
        && color[1..].bytes().all(|b| b.is_ascii_hexdigit()))
    {
        e.add(tr, "brand_color", "projects.bad_color");
    }
    let page_language = Lang::parse(&input.page_language);
    if page_language.is_none() {
        e.add(tr, "page_language", "projects.choose");
    }
    let mut side = |field: &'static str, v: &str| {
        let side = Side::parse(v);
        if side.is_none() {
            e.add(tr, field, "projects.choose");
        }
        side.unwrap_or(Side::Merchant)
    };
    let service_fee_side = side("service_fee_side", &input.service_fee_side);
    let transfer_fee_side = side("transfer_fee_side", &input.transfer_fee_side);
    let lifetime = input
        .invoice_lifetime_minutes
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|m| (1..=31 * 24 * 60).contains(m));
    if lifetime.is_none() {
        e.add(tr, "invoice_lifetime_minutes", "projects.bad_lifetime");
    }
    let tolerance = match input.tolerance_kind.as_str() {
        "none" => Tolerance::None,
        kind @ ("percent" | "usd") => match parse_decimal(&input.tolerance_value) {
            Some(d) if d >= Decimal::ZERO && (kind == "usd" || d <= Decimal::from(100)) => {
                Tolerance::from_parts(kind, d.normalize()).unwrap_or(Tolerance::None)
            }
            _ => {
                e.add(tr, "tolerance_value", "projects.bad_tolerance");
                Tolerance::None
            }
        },
        _ => {
            e.add(tr, "tolerance_kind", "projects.choose");
            Tolerance::None
        }
    };
    let mut codes = Vec::new();
    for c in &input.currencies {
        match currency::crypto(c) {
            Some(c) => codes.push(c.code),
            None => e.add(tr, "currencies", "projects.bad_currency"),
        }
    }
    let (Some(postback_format), Some(page_language)) = (postback_format, page_language) else {
        return Err(e);
    };
    if !e.is_empty() {
        return Err(e);
    }
    Ok(ProjectSettings {
        name: name.to_owned(),
        description: input.description.trim().to_owned(),
        site_url,
        success_url,
        fail_url,
        notify_url,
        postback_format,
        brand_color: color,
        page_language,
        // Every currency ticked means "all", including ones added later.
        currencies: if codes.len() == currency::CRYPTOS.len() {
            Vec::new()
        } else {
            codes.into_iter().map(str::to_owned).collect()
        },
        service_fee_side,
        transfer_fee_side,
        invoice_lifetime_minutes: lifetime.unwrap_or(1440),
        tolerance,
        email_required: input.email_required.is_some(),
    })
}

#[derive(Template)]
#[template(path = "projects/new.html")]
struct NewPage<'a> {
    page: &'a Page,
    f: &'a SettingsInput,
    errors: &'a FieldErrors,
}

/// `GET /projects/new`
pub async fn new_form(ctx: WebCtx) -> Result<Response, WebError> {
    let page = Page::new(&ctx, "projects.new.title");
    let f = SettingsInput::from_settings(&svc::default_settings(""));
    Ok(html(
        NewPage {
            page: &page,
            f: &f,
            errors: &FieldErrors::new(),
        }
        .render()?,
    ))
}

/// `POST /projects/new`: creates the project and shows its API key once.
pub async fn create(
    State(st): State<AppState>,
    ctx: WebCtx,
    Me(me): Me,
    FormData(input): FormData<SettingsInput>,
) -> Result<Response, WebError> {
    let tr = Tr::new(ctx.lang);
    let mut merged = SettingsInput::from_settings(&svc::default_settings(&input.name));
    merged.site_url = input.site_url.clone();
    merged.notify_url = input.notify_url.clone();
    merged.description = input.description.clone();
    let checked = match parse_settings(tr, &merged) {
        Ok(s) => check_notify_target(&st, tr, &s).await.map(|()| s),
        Err(errors) => Err(errors),
    };
    let settings = match checked {
        Ok(s) => s,
        Err(errors) => {
            let page = Page::new(&ctx, "projects.new.title");
            return Ok(html(
                NewPage {
                    page: &page,
                    f: &merged,
                    errors: &errors,
                }
                .render()?,
            ));
        }
    };
    let created = svc::create(&st, me.user.merchant_id, &ctx.actor(&me), &settings).await?;
    Ok(super::integration::show_key_once(
        &st,
        &me,
        created.id,
        &created.api_key,
        true,
    ))
}

#[derive(Template)]
#[template(path = "projects/show.html")]
struct ShowPage<'a> {
    page: &'a Page,
    project: &'a ProjectRow,
    f: &'a SettingsInput,
    errors: &'a FieldErrors,
    can_edit: bool,
    /// The currencies by network, as the form groups them.
    networks: Vec<NetworkGroup>,
    public_url: &'a str,
    /// Why the project cannot take live payments, if it cannot.
    live_ready: Option<String>,
}

/// One network's currencies in the settings form.
struct NetworkGroup {
    code: &'static str,
    name: &'static str,
    cryptos: Vec<&'static Crypto>,
    /// "3 of 4 accepted".
    accepted: String,
}

/// The catalogue grouped by network, in catalogue order.
fn network_groups(tr: Tr, f: &SettingsInput) -> Vec<NetworkGroup> {
    let mut groups: Vec<NetworkGroup> = Vec::new();
    for c in currency::cryptos_in_order() {
        match groups.iter_mut().find(|g| g.code == c.network.code) {
            Some(g) => g.cryptos.push(c),
            None => groups.push(NetworkGroup {
                code: c.network.code,
                name: c.network.fullname,
                cryptos: vec![c],
                accepted: String::new(),
            }),
        }
    }
    for g in &mut groups {
        let n = g.cryptos.iter().filter(|c| f.accepts(c.code)).count();
        g.accepted = tr.f(
            "projects.currencies_accepted",
            &[("n", &n), ("of", &g.cryptos.len())],
        );
    }
    groups
}

fn show_page(
    st: &AppState,
    ctx: &WebCtx,
    me: &Viewer,
    project: &ProjectRow,
    f: &SettingsInput,
    errors: &FieldErrors,
) -> Result<Response, WebError> {
    let page = Page::new(ctx, "projects.settings.title");
    let body = ShowPage {
        page: &page,
        project,
        f,
        errors,
        can_edit: me.grants.allows(Section::EditProjects),
        networks: network_groups(page.tr, f),
        public_url: &st.public_url,
        live_ready: svc::live_check(st, project).err().map(|e| match &e {
            svc::ModeError::NoLiveCurrency { networks } => {
                page.tr
                    .f1(mode_refusal(&e), "networks", &networks.join(", "))
            }
            _ => page.tr.t(mode_refusal(&e)).to_owned(),
        }),
    }
    .render()?;
    Ok(html(body))
}

/// `GET /projects/{id}`
pub async fn show(
    State(st): State<AppState>,
    ctx: WebCtx,
    Me(me): Me,
    Path(id): Path<ProjectId>,
) -> Result<Response, WebError> {
    let project = visible_project(&st, &me, id).await?;
    show_page(
        &st,
        &ctx,
        &me,
        &project,
        &SettingsInput::from_settings(&project.settings),
        &FieldErrors::new(),
    )
}

/// `POST /projects/{id}`
pub async fn update(
    State(st): State<AppState>,
    ctx: WebCtx,
    Me(me): Me,
    Path(id): Path<ProjectId>,
    form: FormPairs,
) -> Result<Response, WebError> {
    let project = visible_project(&st, &me, id).await?;
    let get = |k: &str| form.get(k).unwrap_or_default().to_owned();
    let input = SettingsInput {
        name: get("name"),
        description: get("description"),
        site_url: get("site_url"),
        success_url: get("success_url"),
        fail_url: get("fail_url"),
        notify_url: get("notify_url"),
        postback_format: get("postback_format"),
        brand_color: get("brand_color"),
        page_language: get("page_language"),
        service_fee_side: get("service_fee_side"),
        transfer_fee_side: get("transfer_fee_side"),
        invoice_lifetime_minutes: get("invoice_lifetime_minutes"),
        tolerance_kind: get("tolerance_kind"),
        tolerance_value: get("tolerance_value"),
        email_required: form.get("email_required").map(|_| "on".into()),
        currencies: form.all("currencies").map(str::to_owned).collect(),
    };
    if input.currencies.is_empty() {
        let mut errors = FieldErrors::new();
        errors.add(Tr::new(ctx.lang), "currencies", "projects.no_currency");
        return show_page(&st, &ctx, &me, &project, &input, &errors);
    }
    let tr = Tr::new(ctx.lang);
    let checked = match parse_settings(tr, &input) {
        Ok(s) => check_notify_target(&st, tr, &s).await.map(|()| s),
        Err(errors) => Err(errors),
    };
    match checked {
        Ok(settings) => {
            svc::update(&st, &project, &ctx.actor(&me), &settings).await?;
            Ok(to_settings(&st, id, 's', "flash.saved"))
        }
        Err(errors) => show_page(&st, &ctx, &me, &project, &input, &errors),
    }
}

/// `POST /projects/{id}/logo` (multipart; the CSRF token rides in the query string).
pub async fn upload_logo(
    State(st): State<AppState>,
    ctx: WebCtx,
    Me(me): Me,
    Path(id): Path<ProjectId>,
    mut form: Multipart,
) -> Result<Response, WebError> {
    let project = visible_project(&st, &me, id).await?;
    let mut bytes = None;
    let mut fields = 0;
    while let Ok(Some(field)) = form.next_field().await {
        // The form has one file field (and, from some browsers, the CSRF token): more is not
        // a form of ours.
        fields += 1;
        if fields > 4 {
            return Ok(to_settings(&st, id, 'e', "projects.logo.missing"));
        }
        if field.name() == Some("logo") {
            match field.bytes().await {
                Ok(b) => bytes = Some(b),
                Err(_) => {
                    return Ok(to_settings(&st, id, 'e', "projects.logo.too_large"));
                }
            }
        }
    }
    let Some(bytes) = bytes.filter(|b| !b.is_empty()) else {
        return Ok(to_settings(&st, id, 'e', "projects.logo.missing"));
    };
    let processed = st
        .heavy
        .run(move || svc::process_logo(&bytes))
        .await
        .map_err(|e| WebError::Internal(e.to_string()))?;
    match processed {
        Ok(png) => {
            svc::set_logo(&st, &project, &ctx.actor(&me), Some(&png)).await?;
            Ok(to_settings(&st, id, 's', "projects.logo.saved"))
        }
        Err(e) => {
            let key = match e {
                svc::LogoError::TooLarge => "projects.logo.too_large",
                svc::LogoError::NotAnImage => "projects.logo.not_image",
                svc::LogoError::Broken => "projects.logo.broken",
                svc::LogoError::TooManyPixels => "projects.logo.too_many_pixels",
            };
            Ok(to_settings(&st, id, 'e', key))
        }
    }
}

/// `POST /projects/{id}/logo/delete`
pub async fn delete_logo(
    State(st): State<AppState>,
    ctx: WebCtx,
    Me(me): Me,
    Path(id): Path<ProjectId>,
) -> Result<Response, WebError> {
    let project = visible_project(&st, &me, id).await?;
    svc::set_logo(&st, &project, &ctx.actor(&me), None).await?;
    Ok(to_settings(&st, id, 's', "projects.logo.removed"))
}

/// `GET /logos/{shop_id}.png`: a project's logo, as re-encoded at upload. Served with
/// `nosniff` and a sandboxing CSP so it can only ever be an image.
pub async fn logo(State(st): State<AppState>, Path(file): Path<String>) -> Response {
    let Some(shop_id) = file.strip_suffix(".png") else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let Ok(mut c) = st.db.conn().await else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    let Ok(Some(p)) = projects::by_shop_id(&mut c, shop_id).await else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match projects::logo(&mut c, p.id).await {
        Ok(Some(png)) => (
            [
                (header::CONTENT_TYPE, "image/png"),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
                (
                    header::CONTENT_SECURITY_POLICY,
                    "default-src 'none'; sandbox",
                ),
                (header::CACHE_CONTROL, "public, max-age=86400"),
            ],
            png,
        )
            .into_response(),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Why going live is refused, for the merchant.
fn mode_refusal(e: &svc::ModeError) -> &'static str {
    match e {
        svc::ModeError::NoLiveCurrency { .. } => "projects.mode.no_live_currency",
        _ => "projects.mode.no_networks",
    }
}

/// The live/test switch.
#[derive(Deserialize)]
pub struct ModeInput {
    #[serde(default)]
    mode: String,
}

/// `POST /projects/{id}/mode`: going live is an explicit action (and back to test).
pub async fn set_mode(
    State(st): State<AppState>,
    ctx: WebCtx,
    Me(me): Me,
    Path(id): Path<ProjectId>,
    FormData(input): FormData<ModeInput>,
) -> Result<Response, WebError> {
    let project = visible_project(&st, &me, id).await?;
    let test = match input.mode.as_str() {
        "live" => false,
        "test" => true,
        _ => return Err(WebError::BadRequest),
    };
    match svc::set_test_mode(&st, &project, &ctx.actor(&me), test).await {
        Ok(()) => {}
        Err(svc::ModeError::Service(e)) => return Err(e.into()),
        Err(refused) => {
            return Ok(redirect_with_flash(
                &st,
                &format!("/projects/{id}#mode"),
                'e',
                mode_refusal(&refused),
            ));
        }
    }
    let flash = if test {
        "projects.mode.now_test"
    } else {
        "projects.mode.now_live"
    };
    Ok(to_settings(&st, id, 's', flash))
}

/// `POST /projects/{id}/archive` (and restore).
pub async fn archive(
    State(st): State<AppState>,
    ctx: WebCtx,
    Me(me): Me,
    Path(id): Path<ProjectId>,
) -> Result<Response, WebError> {
    let project = visible_project(&st, &me, id).await?;
    let archive = project.archived_at.is_none();
    svc::set_archived(&st, &project, &ctx.actor(&me), archive).await?;
    let flash = if archive {
        "projects.archived"
    } else {
        "projects.restored"
    };
    Ok(to_settings(&st, id, 's', flash))
}

/// The route to the logo upload carries the CSRF token in its query (multipart bodies are not
/// read by the CSRF check).
impl ShowPage<'_> {
    fn logo_action(&self) -> String {
        format!(
            "/projects/{}/logo?_csrf={}",
            self.project.id, self.page.csrf
        )
    }
}
