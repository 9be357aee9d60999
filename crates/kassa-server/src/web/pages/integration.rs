//! A project's integration page (keys, snippets, a test postback, the postbacks on their way)
//! and the page that shows a new API key once.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use kassa_core::ProjectId;
use kassa_core::account::Section;
use kassa_store::projects::ProjectRow;
use serde::Deserialize;

use super::QueryData;
use super::projects::visible_project;
use crate::state::AppState;
use crate::web::context::{
    Me, Page, Resume, ResumeQuery, Viewer, WebCtx, html, redirect_with_flash, require_section,
};
use crate::web::errors::WebError;
use crate::web::reveal;
use kassa_service::accounts;
use kassa_service::i18n::Tr;
use kassa_service::projects as svc;

#[derive(Template)]
#[template(path = "projects/created.html")]
struct KeysPage<'a> {
    page: &'a Page,
    project: &'a ProjectRow,
    api_key: &'a str,
    secret_key: &'a str,
    first: bool,
}

/// What the keys page shows once for `project`.
fn key_purpose(project: ProjectId) -> String {
    format!("api_key:{project}")
}

/// Redirects to the page that shows `api_key` once (see [`crate::web::reveal`]).
pub(super) fn show_key_once(
    st: &AppState,
    me: &Viewer,
    project: ProjectId,
    api_key: &str,
    first: bool,
) -> Response {
    let to = format!(
        "/projects/{project}/keys{}",
        if first { "?first=1" } else { "" }
    );
    reveal::redirect(st, me, &key_purpose(project), &api_key, &to)
}

/// `?first=1` on the keys page: the project was just created.
#[derive(Deserialize, Default)]
pub struct KeysQuery {
    #[serde(default)]
    first: String,
}

/// `GET /projects/{id}/keys`: the API key just made, shown once; afterwards (a refresh, a
/// later visit) the integration page, saying so.
pub async fn keys(
    State(st): State<AppState>,
    ctx: WebCtx,
    Me(me): Me,
    Path(id): Path<ProjectId>,
    headers: axum::http::HeaderMap,
    QueryData(q): QueryData<KeysQuery>,
) -> Result<Response, WebError> {
    let project = visible_project(&st, &me, id).await?;
    let Some(api_key) = reveal::take::<String>(&st, &me, &headers, &key_purpose(id)) else {
        return Ok(redirect_with_flash(
            &st,
            &format!("/projects/{id}/integration"),
            'i',
            "projects.key_was_shown",
        ));
    };
    let secret = svc::secret_key(&st, &project)?;
    let first = q.first == "1";
    let page = Page::new(
        &ctx,
        if first {
            "projects.created.title"
        } else {
            "projects.new_key.title"
        },
    );
    let page = html(
        KeysPage {
            page: &page,
            project: &project,
            api_key: &api_key,
            secret_key: &secret,
            first,
        }
        .render()?,
    );
    Ok(reveal::shown(&st, page))
}
#[derive(Template)]
#[template(path = "projects/integration.html")]
struct IntegrationPage<'a> {
    page: &'a Page,
    project: &'a ProjectRow,
    secret_key: &'a str,
    public_url: &'a str,
    test_result: Option<TestResult>,
    postbacks: Vec<PendingView>,
    postbacks_total: i64,
    may_resend: bool,
    resume: Option<Resume>,
}

/// A postback not delivered yet (or given up on), as the integration page lists it.
struct PendingView {
    uuid: String,
    state: String,
    gave_up: bool,
    error: String,
}

/// Postbacks listed on the integration page.
const PENDING_SHOWN: i64 = 20;

fn pending_view(tr: Tr, p: &kassa_store::postbacks::PendingPostback) -> PendingView {
    let tries = p.attempts;
    let state = match p.state.as_str() {
        "failed" => tr.f(
            "integration.postback_gave_up",
            &[("tries", &tries), ("at", &tr.datetime(p.updated_at))],
        ),
        "running" => tr.t("integration.postback_sending").to_owned(),
        _ if tries == 0 => tr.t("integration.postback_queued").to_owned(),
        _ => tr.f(
            "integration.postback_retrying",
            &[("tries", &tries), ("next", &tr.datetime(p.run_at))],
        ),
    };
    PendingView {
        uuid: p.uuid.clone(),
        state,
        gave_up: p.state == "failed",
        error: p.last_error.clone().unwrap_or_default(),
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct TestResult {
    ok: bool,
    status: String,
    excerpt: String,
    latency_ms: u64,
}

async fn integration_page(
    st: &AppState,
    ctx: &WebCtx,
    me: &Viewer,
    project: &ProjectRow,
    test_result: Option<TestResult>,
    resume: &str,
) -> Result<Response, WebError> {
    let secret = svc::secret_key(st, project)?;
    let (pending, postbacks_total) = kassa_store::postbacks::pending_of_project(
        &mut st.db.conn().await?,
        project.id,
        PENDING_SHOWN,
    )
    .await?;
    let page = Page::new(ctx, "integration.title");
    Ok(html(
        IntegrationPage {
            page: &page,
            project,
            secret_key: &secret,
            public_url: &st.public_url,
            test_result,
            postbacks: pending.iter().map(|p| pending_view(page.tr, p)).collect(),
            postbacks_total,
            may_resend: me.grants.allows(Section::InvoiceActions),
            // Back from re-authenticating for a new API key: that button, highlighted.
            resume: (resume == "new_key"
                && me.grants.allows(Section::ApiKeys)
                && accounts::recently_authenticated(st, &me.session))
            .then(|| Resume {
                action: format!("/projects/{}/api-key", project.id),
                label: page.t("integration.new_key").to_owned(),
            }),
        }
        .render()?,
    ))
}

/// `GET /projects/{id}/integration`
pub async fn integration(
    State(st): State<AppState>,
    ctx: WebCtx,
    Me(me): Me,
    Path(id): Path<ProjectId>,
    headers: axum::http::HeaderMap,
    QueryData(q): QueryData<ResumeQuery>,
) -> Result<Response, WebError> {
    let project = visible_project(&st, &me, id).await?;
    let tested = reveal::take::<TestResult>(&st, &me, &headers, &test_purpose(id));
    let shown = tested.is_some();
    let page = integration_page(&st, &ctx, &me, &project, tested, &q.resume).await?;
    Ok(if shown {
        reveal::shown(&st, page)
    } else {
        page
    })
}

/// `POST /projects/{id}/api-key`: a new API key (the old one stops working); needs a recent
/// re-authentication.
pub async fn regenerate_key(
    State(st): State<AppState>,
    ctx: WebCtx,
    Me(me): Me,
    Path(id): Path<ProjectId>,
) -> Result<Response, WebError> {
    let project = visible_project(&st, &me, id).await?;
    require_section(&me, Section::ApiKeys)?;
    if !accounts::recently_authenticated(&st, &me.session) {
        let back = format!("/projects/{id}/integration");
        return Ok(crate::web::context::reauth_then(&st, &back, "new_key"));
    }
    let key = svc::regenerate_api_key(&st, &project, &ctx.actor(&me)).await?;
    Ok(show_key_once(&st, &me, project.id, &key, false))
}

/// `POST /projects/{id}/secret`: a new postback secret.
pub async fn regenerate_secret(
    State(st): State<AppState>,
    ctx: WebCtx,
    Me(me): Me,
    Path(id): Path<ProjectId>,
) -> Result<Response, WebError> {
    let project = visible_project(&st, &me, id).await?;
    svc::regenerate_secret(&st, &project, &ctx.actor(&me)).await?;
    Ok(redirect_with_flash(
        &st,
        &format!("/projects/{id}/integration"),
        's',
        "integration.secret_changed",
    ))
}

/// `POST /projects/{id}/test-postback`: sends a sample postback now; the integration page
/// shows the answer.
pub async fn test_postback(
    State(st): State<AppState>,
    Me(me): Me,
    Path(id): Path<ProjectId>,
) -> Result<Response, WebError> {
    let project = visible_project(&st, &me, id).await?;
    if project.settings.notify_url.trim().is_empty() {
        return Ok(redirect_with_flash(
            &st,
            &format!("/projects/{id}/integration"),
            'e',
            "integration.no_notify_url",
        ));
    }
    let sample = kassa_service::postbacks::sample_fields(&st, &project);
    let delivery = format!("TESTTEST-test-{}", st.clock.now().as_micros());
    let d =
        kassa_service::postbacks::send(&st, &st.outbound, &project, "TESTTEST", &delivery, sample)
            .await;
    let status = d.status.map_or_else(
        || d.error.clone().unwrap_or_default(),
        |s| format!("HTTP {s}"),
    );
    let result = TestResult {
        ok: d.ok(),
        status,
        excerpt: d.excerpt,
        latency_ms: u64::try_from(d.latency.as_millis()).unwrap_or(u64::MAX),
    };
    // The answer is shown after a redirect: a refresh does not send another test postback.
    let to = format!("/projects/{id}/integration#test-postback");
    Ok(reveal::redirect(&st, &me, &test_purpose(id), &result, &to))
}

/// What the integration page shows once for `project`: the test postback's answer.
fn test_purpose(project: ProjectId) -> String {
    format!("test_postback:{project}")
}
