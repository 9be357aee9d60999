//! The Payments section as a view: the filters a person sets in the query string, the
//! columns they chose, and each cell's text — shared by the HTML table and the export, so
//! an export is exactly the filtered view. Reads go through [`kassa_store::payment_list`]
//! within the projects the person may see.

use std::collections::BTreeMap;
use std::time::Duration;

use kassa_core::account::Email;
use kassa_core::currency::{self, Crypto};
use kassa_core::invoice::Status;
use kassa_core::money::{Amount, Exact, Rounding};
use kassa_core::{MerchantId, ProjectId, Timestamp, UserId};
use kassa_store::payment_list::{self, Detail, Mode, PaymentQuery, PaymentRow, StatusFilter};
use kassa_store::projects::ProjectRow;
use kassa_store::{AsConn, StoreError, user_settings};
use time::{Date, Month, OffsetDateTime, Time};

/// A column of the Payments table and its export.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Column {
    /// When the invoice was created.
    Created,
    /// `INV-…`.
    Invoice,
    /// The merchant's order id.
    OrderId,
    /// The project's name.
    Project,
    /// Status (with "processing" and "paid late").
    Status,
    /// The price as asked (`25.00 USD`).
    Price,
    /// The crypto amount due.
    Amount,
    /// Currency and network (`USDT_TRC20`).
    Currency,
    /// Counted payments, in the invoice's currency.
    Received,
    /// Counted payments in USD at the locked rate.
    ReceivedUsd,
    /// Service and transfer fees kept, in the invoice's currency.
    Fees,
    /// The payer's e-mail.
    Email,
    /// The deposit address.
    Address,
    /// Transaction hashes.
    Txids,
    /// When it was paid (finished as paid).
    PaidAt,
    /// Test or live.
    Test,
    /// The USD rate locked for the invoice and where it came from.
    Rate,
}

impl Column {
    /// Every column, in the chooser's order.
    pub const ALL: [Column; 17] = [
        Column::Created,
        Column::Invoice,
        Column::OrderId,
        Column::Project,
        Column::Status,
        Column::Price,
        Column::Amount,
        Column::Currency,
        Column::Received,
        Column::ReceivedUsd,
        Column::Fees,
        Column::Email,
        Column::Address,
        Column::Txids,
        Column::PaidAt,
        Column::Test,
        Column::Rate,
    ];

    /// What a new person sees.
    pub const DEFAULT: [Column; 8] = [
        Column::Created,
        Column::Invoice,
        Column::Project,
        Column::OrderId,
        Column::Price,
        Column::Currency,
        Column::Status,
        Column::ReceivedUsd,
    ];

    /// Its key (query strings, saved choices, CSV header).
    pub fn key(self) -> &'static str {
        match self {
            Column::Created => "created",
            Column::Invoice => "invoice",
            Column::OrderId => "order_id",
            Column::Project => "project",
            Column::Status => "status",
            Column::Price => "price",
            Column::Amount => "amount",
            Column::Currency => "currency",
            Column::Received => "received",
            Column::ReceivedUsd => "received_usd",
            Column::Fees => "fees",
            Column::Email => "email",
            Column::Address => "address",
            Column::Txids => "txids",
            Column::PaidAt => "paid_at",
            Column::Test => "test",
            Column::Rate => "rate",
        }
    }

    /// The column with this key.
    pub fn parse(key: &str) -> Option<Column> {
        Column::ALL.into_iter().find(|c| c.key() == key.trim())
    }

    /// A saved or submitted choice: known keys in order, each once; nothing known → the
    /// default.
    pub fn list(text: &str) -> Vec<Column> {
        let mut out: Vec<Column> = Vec::new();
        for c in text.split(',').filter_map(Column::parse) {
            if !out.contains(&c) {
                out.push(c);
            }
        }
        if out.is_empty() {
            Column::DEFAULT.to_vec()
        } else {
            out
        }
    }

    /// The saved form of a choice.
    pub fn text(columns: &[Column]) -> String {
        columns
            .iter()
            .map(|c| c.key())
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// The name of the saved column choice.
const COLUMNS_SETTING: &str = "payments.columns";

/// The columns `user` chose (the default until they choose).
pub async fn columns_of(conn: &mut impl AsConn, user: UserId) -> Result<Vec<Column>, StoreError> {
    Ok(Column::list(
        &user_settings::get(conn, user, COLUMNS_SETTING)
            .await?
            .unwrap_or_default(),
    ))
}

/// Saves `user`'s column choice.
pub async fn save_columns(
    conn: &mut impl AsConn,
    user: UserId,
    columns: &[Column],
    now: Timestamp,
) -> Result<(), StoreError> {
    user_settings::set(conn, user, COLUMNS_SETTING, &Column::text(columns), now).await
}

/// The filters as given in the query string (kept as typed, to show them again).
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct Filters {
    /// First day, `YYYY-MM-DD` (UTC).
    #[serde(default)]
    pub from: String,
    /// Last day, inclusive.
    #[serde(default)]
    pub to: String,
    /// A status, `processing` or `paid_late`.
    #[serde(default)]
    pub status: String,
    /// A crypto code.
    #[serde(default)]
    pub currency: String,
    /// A network code.
    #[serde(default)]
    pub network: String,
    /// A project id.
    #[serde(default)]
    pub project: String,
    /// `live` (default), `test` or `all`.
    #[serde(default)]
    pub mode: String,
    /// Search text.
    #[serde(default)]
    pub q: String,
}

impl Filters {
    /// The query-string pairs that are set (for links and the export).
    pub fn pairs(&self) -> Vec<(&'static str, &str)> {
        [
            ("from", self.from.as_str()),
            ("to", self.to.as_str()),
            ("status", self.status.as_str()),
            ("currency", self.currency.as_str()),
            ("network", self.network.as_str()),
            ("project", self.project.as_str()),
            ("mode", self.mode.as_str()),
            ("q", self.q.as_str()),
        ]
        .into_iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .collect()
    }
}

/// A filter value that does not parse: the field and what is wrong (an i18n key).
pub type FilterError = (&'static str, &'static str);

/// A `YYYY-MM-DD` day as the start of that UTC day.
pub fn parse_day(s: &str) -> Option<Timestamp> {
    let mut it = s.trim().split('-');
    let (y, m, d) = (
        it.next()?.parse().ok()?,
        it.next()?.parse::<u8>().ok()?,
        it.next()?.parse().ok()?,
    );
    if it.next().is_some() {
        return None;
    }
    let date = Date::from_calendar_date(y, Month::try_from(m).ok()?, d).ok()?;
    Some(Timestamp::from_datetime(OffsetDateTime::new_utc(
        date,
        Time::MIDNIGHT,
    )))
}

/// Who is looking: their merchant, themselves, and whether they see every project.
#[derive(Clone, Copy, Debug)]
pub struct Looker {
    /// The merchant.
    pub merchant: MerchantId,
    /// The person.
    pub user: UserId,
    /// The owner sees every project.
    pub owner: bool,
}

/// The projects `who` may see, and whether that is every project of the merchant (the owner,
/// or staff not limited to some).
pub async fn scope(
    conn: &mut impl AsConn,
    who: Looker,
) -> Result<(Vec<ProjectRow>, bool), StoreError> {
    let visible = crate::projects::visible_to(conn, who.merchant, who.user, who.owner).await?;
    let all = who.owner
        || kassa_store::projects::scope_of(conn, who.user)
            .await?
            .is_empty();
    Ok((visible, all))
}

/// The view the filters describe for `who`, and the projects they may see (for names and the
/// project filter's list). Errors name the fields that do not parse; nothing is read then.
pub async fn query(
    conn: &mut impl AsConn,
    who: Looker,
    f: &Filters,
) -> Result<Result<(PaymentQuery, Vec<ProjectRow>), Vec<FilterError>>, StoreError> {
    let mut errors = Vec::new();
    let mut q = PaymentQuery::of(who.merchant);
    let day = |s: &str, field: &'static str, errors: &mut Vec<FilterError>| match s.trim() {
        "" => None,
        s => parse_day(s).or_else(|| {
            errors.push((field, "payments.error.date"));
            None
        }),
    };
    q.from = day(&f.from, "from", &mut errors);
    q.until = day(&f.to, "to", &mut errors).map(|t| t.saturating_add(Duration::from_secs(86_400)));
    q.status = match f.status.trim() {
        "" => None,
        "processing" => Some(StatusFilter::Processing),
        "paid_late" => Some(StatusFilter::PaidLate),
        s => match Status::parse(s) {
            Some(s) => Some(StatusFilter::Is(s)),
            None => {
                errors.push(("status", "payments.error.status"));
                None
            }
        },
    };
    let mut currencies: Option<Vec<&'static str>> = None;
    match f.currency.trim() {
        "" => {}
        code => match currency::crypto(code) {
            Some(c) => currencies = Some(vec![c.code]),
            None => errors.push(("currency", "payments.error.currency")),
        },
    }
    match f.network.trim() {
        "" => {}
        code => match currency::network(code) {
            Some(n) => {
                let on: Vec<&'static str> = currency::CRYPTOS
                    .iter()
                    .filter(|c| c.network.code == n.code)
                    .map(|c| c.code)
                    .collect();
                currencies = Some(match currencies {
                    Some(cs) => cs.into_iter().filter(|c| on.contains(c)).collect(),
                    None => on,
                });
            }
            None => errors.push(("network", "payments.error.network")),
        },
    }
    q.currencies = currencies;
    q.mode = match f.mode.trim() {
        "" | "live" => Mode::Live,
        "test" => Mode::Test,
        "all" => Mode::All,
        _ => {
            errors.push(("mode", "payments.error.mode"));
            Mode::Live
        }
    };
    let (visible, all) = scope(conn, who).await?;
    let mut projects: Option<Vec<ProjectId>> =
        (!all).then(|| visible.iter().map(|p| p.id).collect());
    match f.project.trim() {
        "" => {}
        id => match id.parse::<i64>().ok().map(ProjectId::new) {
            Some(id) if visible.iter().any(|p| p.id == id) => projects = Some(vec![id]),
            _ => errors.push(("project", "payments.error.project")),
        },
    }
    q.projects = projects;
    if !errors.is_empty() {
        return Ok(Err(errors));
    }
    let text = f.q.trim();
    if !text.is_empty() {
        // An e-mail is searched as it is stored.
        let text = Email::parse(text).map_or_else(|_| text.to_owned(), |e| e.as_str().to_owned());
        q.ids = Some(payment_list::search(conn, who.merchant, &text).await?);
    }
    Ok(Ok((q, visible)))
}

/// What the cells of a page need besides the rows: the project names.
#[derive(Debug, Default)]
pub struct Extras {
    /// Project names by id.
    pub projects: BTreeMap<ProjectId, String>,
}

impl Extras {
    /// The names of `projects`.
    pub fn of(projects: &[ProjectRow]) -> Extras {
        Extras {
            projects: projects
                .iter()
                .map(|p| (p.id, p.settings.name.clone()))
                .collect(),
        }
    }
}

/// What a page of `columns` reads besides the invoices' own fields.
pub fn detail(columns: &[Column]) -> Detail {
    if columns.contains(&Column::Txids) {
        Detail::Txids
    } else {
        Detail::Plain
    }
}

/// The status a person reads: the API status, or "processing" / "paid late".
pub fn status_key(row: &PaymentRow) -> &'static str {
    if row.paid_late {
        return "paid_late";
    }
    if row.status == Status::Created && !row.processing.is_zero() {
        return "processing";
    }
    row.status.as_str()
}

fn amount_text(a: Amount, c: Option<&Crypto>) -> String {
    c.map_or_else(String::new, |c| a.to_decimal_string(c.decimals))
}

/// The exact text of a cell (what the export writes; the page formats times and statuses
/// for the reader). Amounts are decimal text in the currency's units, USD to the cent.
pub fn cell(col: Column, row: &PaymentRow, x: &Extras) -> String {
    let c = row.crypto;
    match col {
        Column::Created => row.created_at.iso(),
        Column::Invoice => format!("INV-{}", row.uuid),
        Column::OrderId => row.order_id.clone(),
        Column::Project => x.projects.get(&row.project_id).cloned().unwrap_or_default(),
        Column::Status => status_key(row).to_owned(),
        Column::Price => row.price.to_string(),
        Column::Amount => row.due.map_or_else(String::new, |due| amount_text(due, c)),
        Column::Currency => row.currency.clone().unwrap_or_default(),
        Column::Received => {
            if row.received.is_zero() && c.is_none() {
                String::new()
            } else {
                amount_text(row.received, c)
            }
        }
        Column::ReceivedUsd => match (c, row.rate_usd) {
            (Some(c), Some(rate)) => Exact::decimal(rate).map_or_else(String::new, |r| {
                Exact::amount(row.received, c.decimals)
                    .times(&r)
                    .to_text(2, Rounding::HalfUp)
            }),
            _ => String::new(),
        },
        Column::Fees => amount_text(row.fees, c),
        Column::Email => row.email.clone(),
        Column::Address => row.address.clone().unwrap_or_default(),
        Column::Txids => row.txids.join(" "),
        Column::PaidAt => match (row.status, row.finished_at) {
            (Status::Paid | Status::Overpaid, Some(t)) => t.iso(),
            _ => String::new(),
        },
        Column::Test => if row.test { "test" } else { "live" }.to_owned(),
        Column::Rate => match (row.rate_usd, &row.rate_source) {
            (Some(r), Some(s)) => format!("{r} USD ({s})"),
            (Some(r), None) => format!("{r} USD"),
            _ => String::new(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_choices_are_known_keys_once_in_order() {
        assert_eq!(
            Column::list("status,created,bogus,status"),
            vec![Column::Status, Column::Created]
        );
        assert_eq!(Column::list(""), Column::DEFAULT.to_vec());
        assert_eq!(Column::list("nothing"), Column::DEFAULT.to_vec());
        let all = Column::text(&Column::ALL);
        assert_eq!(Column::list(&all), Column::ALL.to_vec());
    }

    #[test]
    fn days_and_times() {
        let t = parse_day("2025-03-10").unwrap();
        assert_eq!(t.iso(), "2025-03-10T00:00:00Z");
        assert!(parse_day("2025-02-30").is_none());
        assert!(parse_day("10.03.2025").is_none());
    }
}
