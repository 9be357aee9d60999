//! The Statistics section: a period (today, 7, 30, 90 days or custom), turnover per day as a
//! server-drawn chart, counts and amounts by status (the very numbers the API's statistics
//! endpoint reports, from the same grouped query), by currency and by project, conversion and
//! the average paid invoice. Live invoices unless test ones are asked for.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use kassa_core::account::Role;
use kassa_core::{Decimal, ProjectId, Timestamp};
use kassa_service::i18n::Tr;
use kassa_service::payment_view::parse_day;
use kassa_service::read::{self, Line, Overview, STAT_KEYS};
use kassa_store::payment_list::{self, DAY_MICROS, Mode, PaymentQuery};
use kassa_store::projects::ProjectRow;

use super::QueryData;
use crate::state::AppState;
use crate::web::chart;
use crate::web::context::{Me, Page, Viewer, WebCtx, html};
use crate::web::errors::WebError;
use crate::web::forms::FieldErrors;

/// The query string.
#[derive(serde::Deserialize, Default)]
pub struct PeriodQuery {
    /// `today`, `7`, `30` (default), `90` or `custom`.
    #[serde(default)]
    period: String,
    /// First day of a custom period.
    #[serde(default)]
    from: String,
    /// Last day of a custom period (inclusive).
    #[serde(default)]
    to: String,
    /// `live` (default), `test` or `all`.
    #[serde(default)]
    mode: String,
    /// One project.
    #[serde(default)]
    project: String,
}

/// The days `[first, last]` (days since the epoch, UTC) a period covers, ending today.
pub fn period_days(now: Timestamp, days: i64) -> (i64, i64) {
    let today = now.as_micros().div_euclid(DAY_MICROS);
    (today - (days - 1).max(0), today)
}

/// A day number as `YYYY-MM-DD`.
fn day_text(day: i64) -> String {
    Timestamp::from_micros(day * DAY_MICROS).iso()[..10].to_owned()
}

/// What `amount` of `crypto` is worth at `rate` USD per unit, as [`usd_text`] writes it;
/// empty when no rate is known (zero).
pub fn usd_of(
    amount: kassa_core::Amount,
    crypto: &kassa_core::currency::Crypto,
    rate: Decimal,
) -> String {
    use kassa_core::money::{Exact, Rounding};
    if rate.is_zero() {
        return String::new();
    }
    Exact::decimal(rate)
        .and_then(|r| {
            Exact::amount(amount, crypto.decimals)
                .times(&r)
                .to_decimal(2, Rounding::HalfUp)
        })
        .map_or_else(String::new, usd_text)
}

/// Dollars as people read them: `1,234.50 USD`.
pub fn usd_text(d: Decimal) -> String {
    let mut d = d.round_dp(2);
    d.rescale(2);
    let s = d.to_string();
    let (int, frac) = s.split_once('.').unwrap_or((&s, "00"));
    let (sign, int) = int.strip_prefix('-').map_or(("", int), |i| ("-", i));
    let mut grouped = String::new();
    for (i, ch) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    format!("{sign}{grouped}.{frac} USD")
}

/// The turnover chart of an overview.
pub fn turnover_chart(tr: Tr, o: &Overview, small: bool) -> String {
    let bars: Vec<(String, Decimal, String)> = o
        .days
        .iter()
        .map(|(day, line)| {
            (
                day_text(*day),
                line.turnover,
                format!("{} · {}", usd_text(line.turnover), line.paid),
            )
        })
        .collect();
    let desc = tr.f(
        "statistics.chart_desc",
        &[
            ("days", &o.days.len()),
            ("total", &usd_text(o.total.turnover)),
        ],
    );
    chart::bars(tr.t("statistics.chart_title"), &desc, &bars, small)
}

/// The projects `me` may see, and whether they are all the merchant's.
pub async fn visible(st: &AppState, me: &Viewer) -> Result<(Vec<ProjectRow>, bool), WebError> {
    let who = kassa_service::payment_view::Looker {
        merchant: me.user.merchant_id,
        user: me.user.id,
        owner: me.user.role == Role::Owner,
    };
    Ok(kassa_service::payment_view::scope(&mut st.db.conn().await?, who).await?)
}

/// The overview of `[first, last]` for the projects given (`None`: all the person sees).
pub async fn overview_of(
    st: &AppState,
    me: &Viewer,
    visible: &[ProjectRow],
    all_visible: bool,
    project: Option<ProjectId>,
    mode: Mode,
    (first, last): (i64, i64),
) -> Result<Overview, WebError> {
    let projects = match project {
        Some(p) => Some(vec![p]),
        None if all_visible => None,
        None => Some(visible.iter().map(|p| p.id).collect()),
    };
    let q = PaymentQuery {
        projects,
        from: Some(Timestamp::from_micros(first * DAY_MICROS)),
        until: Some(Timestamp::from_micros((last + 1) * DAY_MICROS)),
        mode,
        ..PaymentQuery::of(me.user.merchant_id)
    };
    let rows = payment_list::stats(&mut st.db.conn().await?, &q).await?;
    Ok(read::overview(&rows, first, last))
}

struct LineView {
    label: String,
    created: i64,
    paid: i64,
    amount: String,
    turnover: String,
}

fn line_view(label: String, l: &Line) -> LineView {
    LineView {
        label,
        created: l.created,
        paid: l.paid,
        amount: usd_text(l.amount),
        turnover: usd_text(l.turnover),
    }
}

#[derive(Template)]
#[template(path = "statistics.html")]
struct StatisticsPage<'a> {
    page: &'a Page,
    q: &'a PeriodQuery,
    errors: &'a FieldErrors,
    periods: Vec<(&'static str, String)>,
    modes: Vec<(&'static str, String)>,
    projects: Vec<ProjectRow>,
    chart: String,
    range: String,
    turnover: String,
    paid: i64,
    created: i64,
    conversion: String,
    average: String,
    by_status: Vec<(String, i64, String)>,
    by_currency: Vec<LineView>,
    by_project: Vec<LineView>,
}

/// `GET /statistics`
pub async fn show(
    State(st): State<AppState>,
    ctx: WebCtx,
    Me(me): Me,
    QueryData(q): QueryData<PeriodQuery>,
) -> Result<Response, WebError> {
    let page = Page::new(&ctx, "statistics.title");
    let tr = page.tr;
    let mut errors = FieldErrors::new();
    let now = st.clock.now();
    let today = period_days(now, 1).1;
    let mut range = match q.period.trim() {
        "today" => (today, today),
        "7" => period_days(now, 7),
        "90" => period_days(now, 90),
        "custom" => {
            let day = |s: &str, field: &'static str, errors: &mut FieldErrors| {
                let d = parse_day(s).map(|t| t.as_micros().div_euclid(DAY_MICROS));
                if d.is_none() {
                    errors.add(tr, field, "payments.error.date");
                }
                d
            };
            let from = day(&q.from, "from", &mut errors);
            let to = day(&q.to, "to", &mut errors);
            match (from, to) {
                (Some(f), Some(t)) if t >= f && t - f <= 3 * 366 => (f, t),
                (Some(_), Some(_)) => {
                    errors.add(tr, "to", "statistics.bad_range");
                    period_days(now, 30)
                }
                _ => period_days(now, 30),
            }
        }
        _ => period_days(now, 30),
    };
    if range.1 < range.0 {
        range = (range.1, range.0);
    }
    let mode = match q.mode.trim() {
        "test" => Mode::Test,
        "all" => Mode::All,
        _ => Mode::Live,
    };
    let (projects, all_visible) = visible(&st, &me).await?;
    let project = match q.project.trim() {
        "" => None,
        id => match id.parse::<i64>().ok().map(ProjectId::new) {
            Some(id) if projects.iter().any(|p| p.id == id) => Some(id),
            _ => {
                errors.add(tr, "project", "payments.error.project");
                None
            }
        },
    };
    let o = overview_of(&st, &me, &projects, all_visible, project, mode, range).await?;
    let name = |id: ProjectId| {
        projects
            .iter()
            .find(|p| p.id == id)
            .map_or_else(|| id.to_string(), |p| p.settings.name.clone())
    };
    let by_status = STAT_KEYS
        .iter()
        .map(|k| {
            (
                tr.t(&format!("statistics.status.{k}")).to_owned(),
                o.by_status.count.get(k).copied().unwrap_or(0),
                usd_text(o.by_status.amount.get(k).copied().unwrap_or(Decimal::ZERO)),
            )
        })
        .collect();
    let by_currency = o
        .by_currency
        .iter()
        .map(|(c, l)| {
            let label = if c.is_empty() {
                tr.t("statistics.not_chosen").to_owned()
            } else {
                c.clone()
            };
            line_view(label, l)
        })
        .collect();
    let by_project = o
        .by_project
        .iter()
        .map(|(p, l)| line_view(name(*p), l))
        .collect();
    let periods = ["today", "7", "30", "90", "custom"]
        .into_iter()
        .map(|p| (p, tr.t(&format!("statistics.period.{p}")).to_owned()))
        .collect();
    let modes = ["live", "test", "all"]
        .into_iter()
        .map(|m| (m, tr.t(&format!("payments.mode.{m}")).to_owned()))
        .collect();
    let body = StatisticsPage {
        page: &page,
        q: &q,
        errors: &errors,
        periods,
        modes,
        chart: turnover_chart(tr, &o, false),
        range: format!("{} — {}", day_text(range.0), day_text(range.1)),
        turnover: usd_text(o.total.turnover),
        paid: o.total.paid,
        created: o.total.created,
        conversion: o
            .conversion()
            .map_or_else(|| "—".to_owned(), |c| format!("{c} %")),
        average: o.average().map_or_else(|| "—".to_owned(), usd_text),
        by_status,
        by_currency,
        by_project,
        projects,
    }
    .render()?;
    Ok(html(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dollars_are_grouped_and_exact() {
        assert_eq!(usd_text(Decimal::new(123_456_750, 2)), "1,234,567.50 USD");
        assert_eq!(usd_text(Decimal::new(5, 2)), "0.05 USD");
        assert_eq!(usd_text(Decimal::from(100)), "100.00 USD");
        assert_eq!(
            period_days(Timestamp::from_micros(DAY_MICROS * 10 + 5), 7),
            (4, 10)
        );
        assert_eq!(day_text(0), "1970-01-01");
    }
}
