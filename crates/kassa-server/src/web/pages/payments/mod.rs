//! The Payments section: every invoice of the projects a person may see, newest first, in
//! keyset pages; filters in the query string (bookmarkable); the columns each person chose;
//! and the export of exactly that view ([`export`]). The view itself (filters, columns,
//! cell texts) is [`kassa_service::payment_view`].

mod export;

pub use export::{csv_stream, export, xlsx_stream};

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use kassa_core::account::Role;
use kassa_core::currency;
use kassa_service::payment_view::{self as view, Column, Extras, Filters, Looker};
use kassa_store::payment_list::{self, Cursor};
use kassa_store::projects::ProjectRow;

use super::{FormPairs, QueryData, query_string};
use crate::state::AppState;
use crate::web::context::{Me, Page, Viewer, WebCtx, html, redirect_with_flash};
use crate::web::errors::WebError;
use crate::web::forms::FieldErrors;

/// Rows on a page.
const PAGE_SIZE: i64 = 50;

/// The query string: the filters, where the page starts (`after`, a cursor
/// `<micros>.<id>`, absent for the newest), and the export format.
#[derive(serde::Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    currency: String,
    #[serde(default)]
    network: String,
    #[serde(default)]
    project: String,
    #[serde(default)]
    mode: String,
    #[serde(default)]
    q: String,
    #[serde(default)]
    after: String,
    #[serde(default)]
    format: String,
}

impl ListQuery {
    /// The filters alone.
    fn filters(&self) -> Filters {
        Filters {
            from: self.from.clone(),
            to: self.to.clone(),
            status: self.status.clone(),
            currency: self.currency.clone(),
            network: self.network.clone(),
            project: self.project.clone(),
            mode: self.mode.clone(),
            q: self.q.clone(),
        }
    }
}

/// The filters and the page's start.
struct Query {
    f: Filters,
    after: String,
}

/// One cell as shown.
struct CellView {
    label: String,
    text: String,
    href: Option<String>,
    mono: bool,
}

#[derive(Template)]
#[template(path = "payments/list.html")]
struct ListPage<'a> {
    page: &'a Page,
    f: &'a Filters,
    errors: &'a FieldErrors,
    headers: Vec<String>,
    rows: Vec<Vec<CellView>>,
    older: Option<String>,
    first: Option<String>,
    export: Option<String>,
    statuses: Vec<(&'static str, String)>,
    cryptos: Vec<&'static str>,
    networks: Vec<&'static str>,
    projects: Vec<ProjectRow>,
    modes: Vec<(&'static str, String)>,
    chooser: Vec<(Column, String, bool, usize)>,
}

fn looker(me: &Viewer) -> Looker {
    Looker {
        merchant: me.user.merchant_id,
        user: me.user.id,
        owner: me.user.role == Role::Owner,
    }
}

/// `GET /payments`
pub async fn list(
    State(st): State<AppState>,
    ctx: WebCtx,
    Me(me): Me,
    QueryData(lq): QueryData<ListQuery>,
) -> Result<Response, WebError> {
    let q = Query {
        f: lq.filters(),
        after: lq.after,
    };
    let page = Page::new(&ctx, "payments.title");
    let tr = page.tr;
    let mut conn = st.db.conn().await?;
    let columns = view::columns_of(&mut conn, me.user.id).await?;
    let mut errors = FieldErrors::new();
    let after = match q.after.trim() {
        "" => None,
        s => Cursor::parse(s),
    };
    let (rows, next, projects) = match view::query(&mut conn, looker(&me), &q.f).await? {
        Ok((query, projects)) => {
            let (rows, next) =
                payment_list::page(&mut conn, &query, after, PAGE_SIZE, view::detail(&columns))
                    .await?;
            (rows, next, projects)
        }
        Err(bad) => {
            for (field, key) in bad {
                errors.add(tr, field, key);
            }
            let projects = kassa_service::projects::visible_to(
                &mut conn,
                me.user.merchant_id,
                me.user.id,
                me.user.role == Role::Owner,
            )
            .await?;
            (Vec::new(), None, projects)
        }
    };
    let extras = Extras::of(&projects);
    drop(conn);
    let rows = rows
        .iter()
        .map(|r| {
            columns
                .iter()
                .map(|c| {
                    let label = tr.t(&format!("payments.column.{}", c.key())).to_owned();
                    let raw = view::cell(*c, r, &extras);
                    let (text, href, mono) = match c {
                        Column::Created => (tr.datetime(r.created_at), None, false),
                        Column::PaidAt => (
                            r.finished_at
                                .filter(|_| !raw.is_empty())
                                .map_or_else(String::new, |t| tr.datetime(t)),
                            None,
                            false,
                        ),
                        Column::Invoice => (
                            raw,
                            Some(format!("/projects/{}/invoices/{}", r.project_id, r.uuid)),
                            true,
                        ),
                        Column::Status => (
                            tr.t(&format!("payments.status.{}", view::status_key(r)))
                                .to_owned(),
                            None,
                            false,
                        ),
                        Column::Test => (
                            tr.t(if r.test {
                                "payments.mode.test"
                            } else {
                                "payments.mode.live"
                            })
                            .to_owned(),
                            None,
                            false,
                        ),
                        Column::Address | Column::Txids => (raw, None, true),
                        _ => (raw, None, false),
                    };
                    CellView {
                        label,
                        text,
                        href,
                        mono,
                    }
                })
                .collect()
        })
        .collect();
    let headers = columns
        .iter()
        .map(|c| tr.t(&format!("payments.column.{}", c.key())).to_owned())
        .collect();
    let older = next.map(|c| {
        format!(
            "/payments{}",
            query_string(&q.f.pairs(), &[("after", &c.text())])
        )
    });
    let first = after.map(|_| format!("/payments{}", query_string(&q.f.pairs(), &[])));
    let export = (errors.is_empty() && me.grants.allows(kassa_core::account::Section::Export))
        .then(|| {
            // The format's value is appended by the page (`csv` or `xlsx`).
            format!(
                "/payments/export{}",
                query_string(&q.f.pairs(), &[("format", "")])
            )
        });
    let statuses = [
        "created",
        "processing",
        "partial",
        "paid",
        "overpaid",
        "canceled",
        "paid_late",
    ]
    .into_iter()
    .map(|s| (s, tr.t(&format!("payments.status.{s}")).to_owned()))
    .collect();
    let modes = ["live", "test", "all"]
        .into_iter()
        .map(|m| (m, tr.t(&format!("payments.mode.{m}")).to_owned()))
        .collect();
    let mut chooser: Vec<(Column, String, bool, usize)> = Column::ALL
        .iter()
        .map(|c| {
            let pos = columns.iter().position(|x| x == c);
            (
                *c,
                tr.t(&format!("payments.column.{}", c.key())).to_owned(),
                pos.is_some(),
                pos.map_or(columns.len() + 1, |p| p + 1),
            )
        })
        .collect();
    chooser.sort_by_key(|(_, _, _, pos)| *pos);
    Ok(html(
        ListPage {
            page: &page,
            f: &q.f,
            errors: &errors,
            headers,
            rows,
            older,
            first,
            export,
            statuses,
            cryptos: currency::cryptos_in_order()
                .iter()
                .map(|c| c.code)
                .collect(),
            networks: currency::NETWORKS.iter().map(|n| n.code).collect(),
            projects,
            modes,
            chooser,
        }
        .render()?,
    ))
}

/// `POST /payments/columns`: the person's column choice — the ticked columns, ordered by
/// the positions they typed (then by the chooser's order).
pub async fn save_columns(
    State(st): State<AppState>,
    Me(me): Me,
    form: FormPairs,
) -> Result<Response, WebError> {
    let mut picked: Vec<(u32, usize, Column)> = Vec::new();
    let mut back = String::new();
    for (k, v) in &form.0 {
        if k == "back" && v.starts_with("/payments") && !v.starts_with("/payments/") {
            back.clone_from(v);
        }
        if let Some(c) = k.strip_prefix("col_").and_then(Column::parse) {
            let pos = form
                .0
                .iter()
                .find(|(pk, _)| pk.strip_prefix("pos_") == Some(c.key()))
                .and_then(|(_, pv)| pv.trim().parse::<u32>().ok())
                .unwrap_or(u32::MAX);
            let order = Column::ALL.iter().position(|x| *x == c).unwrap_or(0);
            picked.push((pos, order, c));
        }
    }
    picked.sort_by_key(|(pos, order, _)| (*pos, *order));
    let columns: Vec<Column> = picked.into_iter().map(|(_, _, c)| c).collect();
    let columns = if columns.is_empty() {
        Column::DEFAULT.to_vec()
    } else {
        columns
    };
    view::save_columns(
        &mut st.db.conn().await?,
        me.user.id,
        &columns,
        st.clock.now(),
    )
    .await?;
    let to = if back.is_empty() { "/payments" } else { &back };
    Ok(redirect_with_flash(&st, to, 's', "payments.columns_saved"))
}
