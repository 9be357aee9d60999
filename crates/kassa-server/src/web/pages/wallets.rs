//! A project's static wallets: one address per (currency, customer) that takes any number of
//! payments, each recorded as a top-up invoice. The list, making one on the dashboard (as the
//! API's `static/create` does), and a wallet's page with its payments.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use kassa_core::ProjectId;
use kassa_core::currency::{self, Crypto};
use kassa_store::invoices::{self as store, ListFilter};
use kassa_store::projects::ProjectRow;
use kassa_store::static_wallets::{self as wallets, WalletSummary};
use serde::Deserialize;

use super::FormData;
use super::projects::visible_project;
use crate::state::AppState;
use crate::web::context::{Me, Page, WebCtx, html, redirect_with_flash};
use crate::web::errors::WebError;
use crate::web::forms::FieldErrors;
use kassa_service::i18n::Tr;
use kassa_service::invoices::{self as svc, InvoiceError};

/// Wallets and payments listed on one page.
const SHOWN: i64 = 200;
/// The longest customer id (as the API allows).
const IDENTIFY_MAX: usize = 200;

/// One wallet in the list.
struct WalletView {
    uuid: String,
    identify: String,
    currency: String,
    network: String,
    address: String,
    test: bool,
    created: String,
    payments: i64,
    last: String,
}

fn wallet_view(tr: Tr, w: &WalletSummary) -> WalletView {
    let c = currency::crypto(&w.currency);
    WalletView {
        uuid: w.uuid.clone(),
        identify: w.identify.clone(),
        currency: c.map_or_else(|| w.currency.clone(), |c| c.symbol.to_owned()),
        network: c.map_or_else(String::new, |c| c.network.fullname.to_owned()),
        address: w.address.clone(),
        test: w.test,
        created: tr.datetime(w.created_at),
        payments: w.payments,
        last: w.last_payment.map_or_else(String::new, |t| tr.datetime(t)),
    }
}

/// The form that makes a wallet.
#[derive(Deserialize, Default)]
pub struct NewWalletInput {
    #[serde(default)]
    currency: String,
    #[serde(default)]
    identify: String,
}

#[derive(Template)]
#[template(path = "projects/wallets.html")]
struct ListPage<'a> {
    page: &'a Page,
    project: &'a ProjectRow,
    wallets: Vec<WalletView>,
    total: i64,
    /// What the project takes in its mode, for the form (empty: no form).
    currencies: Vec<&'static Crypto>,
    f: &'a NewWalletInput,
    errors: &'a FieldErrors,
}

async fn list_page(
    st: &AppState,
    ctx: &WebCtx,
    me: &crate::web::context::Viewer,
    project: &ProjectRow,
    f: &NewWalletInput,
    errors: &FieldErrors,
) -> Result<Response, WebError> {
    let (rows, total) = wallets::of_project(&mut st.db.conn().await?, project.id, SHOWN).await?;
    let page = Page::new(ctx, "wallets.title");
    let may_create = me
        .grants
        .allows(kassa_core::account::Section::CreateInvoices)
        && project.archived_at.is_none();
    Ok(html(
        ListPage {
            page: &page,
            project,
            wallets: rows.iter().map(|w| wallet_view(page.tr, w)).collect(),
            total,
            currencies: if may_create {
                svc::offered(st, project)
            } else {
                Vec::new()
            },
            f,
            errors,
        }
        .render()?,
    ))
}

/// `GET /projects/{id}/wallets`
pub async fn list(
    State(st): State<AppState>,
    ctx: WebCtx,
    Me(me): Me,
    Path(id): Path<ProjectId>,
) -> Result<Response, WebError> {
    let project = visible_project(&st, &me, id).await?;
    list_page(
        &st,
        &ctx,
        &me,
        &project,
        &NewWalletInput::default(),
        &FieldErrors::new(),
    )
    .await
}

/// `POST /projects/{id}/wallets`: the wallet of (currency, customer), made if it does not
/// exist yet; then its page.
pub async fn create(
    State(st): State<AppState>,
    ctx: WebCtx,
    Me(me): Me,
    Path(id): Path<ProjectId>,
    FormData(input): FormData<NewWalletInput>,
) -> Result<Response, WebError> {
    let project = visible_project(&st, &me, id).await?;
    let tr = Tr::new(ctx.lang);
    let mut errors = FieldErrors::new();
    let identify = input.identify.trim();
    if identify.is_empty() {
        errors.add(tr, "identify", "wallets.identify_empty");
    } else if identify.chars().count() > IDENTIFY_MAX {
        errors.add(tr, "identify", "wallets.identify_long");
    }
    let crypto = currency::crypto(input.currency.trim());
    if crypto.is_none() {
        errors.add(tr, "currency", "wallets.choose_currency");
    }
    if project.archived_at.is_some() {
        errors.add(tr, "currency", "invoices.flash.archived");
    }
    if let (Some(crypto), true) = (crypto, errors.is_empty()) {
        match svc::static_wallet_by(&st, &project, crypto, identify, Some(&ctx.actor(&me))).await {
            Ok(w) => {
                return Ok(redirect_with_flash(
                    &st,
                    &format!("/projects/{id}/wallets/{}", w.uuid),
                    's',
                    "wallets.ready",
                ));
            }
            Err(InvoiceError::CurrencyUnavailable(_) | InvoiceError::CurrencyNotAllowed(_)) => {
                errors.add(tr, "currency", "wallets.currency_unavailable");
            }
            Err(InvoiceError::Service(e)) => return Err(e.into()),
            Err(InvoiceError::Archived) => errors.add(tr, "currency", "invoices.flash.archived"),
            Err(_) => errors.add(tr, "currency", "invoices.flash.refused"),
        }
    }
    list_page(&st, &ctx, &me, &project, &input, &errors).await
}

/// A payment to a wallet.
struct PaymentView {
    uuid: String,
    created: String,
    status: String,
    received: String,
}

#[derive(Template)]
#[template(path = "projects/wallet.html")]
struct WalletPage<'a> {
    page: &'a Page,
    project: &'a ProjectRow,
    w: WalletView,
    qr: String,
    payments: Vec<PaymentView>,
    total: i64,
}

/// `GET /projects/{id}/wallets/{uuid}`: the wallet and the payments it took.
pub async fn show(
    State(st): State<AppState>,
    ctx: WebCtx,
    Me(me): Me,
    Path((id, uuid)): Path<(ProjectId, String)>,
) -> Result<Response, WebError> {
    let project = visible_project(&st, &me, id).await?;
    let mut c = st.db.conn().await?;
    let w = match wallets::by_uuid(&mut c, project.id, &uuid).await {
        Ok(w) => w,
        Err(kassa_store::StoreError::NotFound) => return Err(WebError::NotFound),
        Err(e) => return Err(e.into()),
    };
    let filter = ListFilter {
        static_wallet: Some(w.id),
        ..ListFilter::default()
    };
    let (invoices, total) = store::list(&mut c, project.id, &filter, 0, SHOWN).await?;
    drop(c);
    let page = Page::new(&ctx, "wallets.wallet_title");
    let tr = page.tr;
    let crypto = currency::crypto(&w.currency);
    let payments = invoices
        .iter()
        .map(|i| PaymentView {
            uuid: i.uuid.clone(),
            created: tr.datetime(i.created_at),
            status: tr
                .t(&format!("invoices.status.{}", i.status.as_str()))
                .to_owned(),
            received: crypto.map_or_else(
                || i.received.to_string(),
                |c| {
                    format!(
                        "{} {}",
                        crate::web::pay::plain(i.received, c.decimals),
                        c.symbol
                    )
                },
            ),
        })
        .collect();
    let qr = crate::web::qr::svg(&w.address, tr.t("wallets.qr"));
    Ok(html(
        WalletPage {
            page: &page,
            project: &project,
            w: wallet_view(tr, &w),
            qr,
            payments,
            total,
        }
        .render()?,
    )
    .into_response())
}
