//! Projects (a merchant's shops or sites) with their settings, keys and logo, and the
//! projects a staff member is limited to.

use kassa_core::invoice::{Side, Tolerance};
use kassa_core::lang::Lang;
use kassa_core::money::parse_decimal;
use kassa_core::project::PostbackFormat;
use kassa_core::{MerchantId, ProjectId, Timestamp, UserId};

use crate::{AsConn, StoreError, exec, sql};

/// The settings a merchant edits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProjectSettings {
    /// Name shown to payers.
    pub name: String,
    /// Description (internal).
    pub description: String,
    /// The shop's site.
    pub site_url: String,
    /// Where payers return after paying.
    pub success_url: String,
    /// Where payers return when payment fails or is cancelled.
    pub fail_url: String,
    /// Where postbacks go.
    pub notify_url: String,
    /// How postbacks are encoded.
    pub postback_format: PostbackFormat,
    /// `#rrggbb` for the payment page.
    pub brand_color: String,
    /// Default language of the payment page.
    pub page_language: Lang,
    /// Accepted crypto codes; empty: every enabled one.
    pub currencies: Vec<String>,
    /// Who pays the service fee.
    pub service_fee_side: Side,
    /// Who pays the transfer fee.
    pub transfer_fee_side: Side,
    /// Default invoice lifetime.
    pub invoice_lifetime_minutes: i64,
    /// The underpayment accepted without the merchant confirming.
    pub tolerance: Tolerance,
    /// Whether the payer must give an e-mail.
    pub email_required: bool,
}

/// A project as stored.
#[derive(Clone, Debug)]
pub struct ProjectRow {
    /// Id.
    pub id: ProjectId,
    /// Owner merchant.
    pub merchant_id: MerchantId,
    /// Public shop id (16 alphanumerics).
    pub shop_id: String,
    /// Settings.
    pub settings: ProjectSettings,
    /// Changes whenever the logo changes (for cache-busting URLs); 0 = no logo.
    pub logo_version: i64,
    /// Test mode (invoices simulated, balances untouched).
    pub test_mode: bool,
    /// The last characters of the API key, to recognise it.
    pub api_key_hint: String,
    /// The postback secret key, sealed with the master key.
    pub secret_key_sealed: String,
    /// Archived projects take no new invoices.
    pub archived_at: Option<Timestamp>,
    /// Created.
    pub created_at: Timestamp,
}

const COLUMNS: &str = "project_id, merchant_id, shop_id, name, description, site_url, success_url, fail_url, notify_url, \
     postback_format, brand_color, page_language, logo_version, currencies, service_fee_side, transfer_fee_side, \
     invoice_lifetime_minutes, tolerance_kind, tolerance_value, email_required, test_mode, api_key_hint, secret_key, \
     archived_at, created_at";

/// A stored value that does not parse: the row is corrupt, never read with a default.
fn corrupt(column: &'static str, v: &str) -> sqlx::Error {
    sqlx::Error::Decode(format!("project.{column}: unexpected value {v:?}").into())
}

/// `a,b,c` as stored → the codes (empty: none).
pub(crate) fn code_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .collect()
}

fn side(column: &'static str, v: &str) -> Result<Side, sqlx::Error> {
    Side::parse(v).ok_or_else(|| corrupt(column, v))
}

macro_rules! project_from_row {
    ($r:expr) => {{
        use sqlx::Row as _;
        let r = &$r;
        let text = |c: &'static str| r.try_get::<String, _>(c);
        let format = text("postback_format")?;
        let language = text("page_language")?;
        let kind = text("tolerance_kind")?;
        let value = text("tolerance_value")?;
        let tolerance = parse_decimal(&value)
            .and_then(|v| Tolerance::from_parts(&kind, v))
            .ok_or_else(|| corrupt("tolerance", &format!("{kind} {value}")))?;
        ProjectRow {
            id: ProjectId::new(r.try_get("project_id")?),
            merchant_id: MerchantId::new(r.try_get("merchant_id")?),
            shop_id: r.try_get("shop_id")?,
            settings: ProjectSettings {
                name: r.try_get("name")?,
                description: r.try_get("description")?,
                site_url: r.try_get("site_url")?,
                success_url: r.try_get("success_url")?,
                fail_url: r.try_get("fail_url")?,
                notify_url: r.try_get("notify_url")?,
                postback_format: PostbackFormat::parse(&format)
                    .ok_or_else(|| corrupt("postback_format", &format))?,
                brand_color: r.try_get("brand_color")?,
                page_language: Lang::parse(&language)
                    .ok_or_else(|| corrupt("page_language", &language))?,
                currencies: code_list(&text("currencies")?),
                service_fee_side: side("service_fee_side", &text("service_fee_side")?)?,
                transfer_fee_side: side("transfer_fee_side", &text("transfer_fee_side")?)?,
                invoice_lifetime_minutes: r.try_get("invoice_lifetime_minutes")?,
                tolerance,
                email_required: r.try_get("email_required")?,
            },
            logo_version: r.try_get("logo_version")?,
            test_mode: r.try_get("test_mode")?,
            api_key_hint: r.try_get("api_key_hint")?,
            secret_key_sealed: r.try_get("secret_key")?,
            archived_at: r
                .try_get::<Option<i64>, _>("archived_at")?
                .map(Timestamp::from_micros),
            created_at: Timestamp::from_micros(r.try_get("created_at")?),
        }
    }};
}

async fn one(
    conn: &mut impl AsConn,
    filter: &str,
    bind: ProjectKey<'_>,
) -> Result<Option<ProjectRow>, StoreError> {
    let q = sqlx::AssertSqlSafe(format!("select {COLUMNS} from project where {filter}"));
    let row = sql!(conn, |c| {
        let query = sqlx::query(q);
        let query = match bind {
            ProjectKey::Id(id) => query.bind(id.get()),
            ProjectKey::Text(t) => query.bind(t),
            ProjectKey::InMerchant(m, id) => query.bind(id.get()).bind(m.get()),
        };
        match query.fetch_optional(c).await? {
            Some(r) => Ok::<_, sqlx::Error>(Some(project_from_row!(r))),
            None => Ok(None),
        }
    })?;
    Ok(row)
}

enum ProjectKey<'a> {
    Id(ProjectId),
    Text(&'a str),
    InMerchant(MerchantId, ProjectId),
}

/// A project to create.
#[derive(Clone, Debug)]
pub struct NewProject<'a> {
    /// Owner merchant.
    pub merchant_id: MerchantId,
    /// Public shop id.
    pub shop_id: &'a str,
    /// Settings.
    pub settings: &'a ProjectSettings,
    /// SHA-256 of the API key.
    pub api_key_hash: &'a str,
    /// Last characters of the API key.
    pub api_key_hint: &'a str,
    /// Sealed postback secret.
    pub secret_key_sealed: &'a str,
}

/// Inserts a project (in test mode). A taken shop id or key hash is a unique violation.
pub async fn insert(
    conn: &mut impl AsConn,
    p: &NewProject<'_>,
    now: Timestamp,
) -> Result<ProjectId, StoreError> {
    let s = p.settings;
    let id: i64 = sql!(conn, |c| {
        sqlx::query_scalar(
        "insert into project (merchant_id, shop_id, name, description, site_url, success_url, fail_url, notify_url, \
         postback_format, brand_color, page_language, currencies, service_fee_side, transfer_fee_side, \
         invoice_lifetime_minutes, tolerance_kind, tolerance_value, email_required, test_mode, api_key_hash, \
         api_key_hint, secret_key, created_at, updated_at) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, true, $19, $20, $21, $22, $22) \
         returning project_id"
    )
    .bind(p.merchant_id.get())
    .bind(p.shop_id)
    .bind(&s.name)
    .bind(&s.description)
    .bind(&s.site_url)
    .bind(&s.success_url)
    .bind(&s.fail_url)
    .bind(&s.notify_url)
    .bind(s.postback_format.as_str())
    .bind(&s.brand_color)
    .bind(s.page_language.code())
    .bind(s.currencies.join(","))
    .bind(s.service_fee_side.as_str())
    .bind(s.transfer_fee_side.as_str())
    .bind(s.invoice_lifetime_minutes)
    .bind(s.tolerance.kind())
    .bind(s.tolerance.value().to_string())
    .bind(s.email_required)
    .bind(p.api_key_hash)
    .bind(p.api_key_hint)
    .bind(p.secret_key_sealed)
    .bind(now.as_micros())
    .fetch_one(c)
    .await
    })?;
    Ok(ProjectId::new(id))
}

/// The project with this API key hash.
pub async fn by_api_key(
    conn: &mut impl AsConn,
    api_key_hash: &str,
) -> Result<Option<ProjectRow>, StoreError> {
    one(conn, "api_key_hash = $1", ProjectKey::Text(api_key_hash)).await
}

/// The project with this shop id.
pub async fn by_shop_id(
    conn: &mut impl AsConn,
    shop_id: &str,
) -> Result<Option<ProjectRow>, StoreError> {
    one(conn, "shop_id = $1", ProjectKey::Text(shop_id)).await
}

/// The project with this id.
pub async fn by_id(conn: &mut impl AsConn, id: ProjectId) -> Result<ProjectRow, StoreError> {
    one(conn, "project_id = $1", ProjectKey::Id(id))
        .await?
        .ok_or(StoreError::NotFound)
}

/// The project if it belongs to `merchant`; another merchant's is [`StoreError::NotFound`].
pub async fn in_merchant(
    conn: &mut impl AsConn,
    merchant: MerchantId,
    id: ProjectId,
) -> Result<ProjectRow, StoreError> {
    one(
        conn,
        "project_id = $1 and merchant_id = $2",
        ProjectKey::InMerchant(merchant, id),
    )
    .await?
    .ok_or(StoreError::NotFound)
}

/// A merchant's projects, oldest first (archived ones included).
pub async fn of_merchant(
    conn: &mut impl AsConn,
    merchant: MerchantId,
) -> Result<Vec<ProjectRow>, StoreError> {
    let q = sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from project where merchant_id = $1 order by project_id"
    ));
    sql!(conn, |c| {
        let rows = sqlx::query(q).bind(merchant.get()).fetch_all(c).await?;
        rows.iter()
            .map(|r| Ok::<_, sqlx::Error>(project_from_row!(r)))
            .collect::<Result<Vec<_>, _>>()
    })
    .map_err(StoreError::from)
}

/// Saves the settings.
pub async fn update_settings(
    conn: &mut impl AsConn,
    id: ProjectId,
    s: &ProjectSettings,
    now: Timestamp,
) -> Result<(), StoreError> {
    let n = exec!(
        conn,
        sqlx::query(
            "update project set name = $1, description = $2, site_url = $3, success_url = $4, fail_url = $5, \
             notify_url = $6, postback_format = $7, brand_color = $8, page_language = $9, currencies = $10, \
             service_fee_side = $11, transfer_fee_side = $12, invoice_lifetime_minutes = $13, tolerance_kind = $14, \
             tolerance_value = $15, email_required = $16, updated_at = $17 where project_id = $18"
        )
        .bind(&s.name)
        .bind(&s.description)
        .bind(&s.site_url)
        .bind(&s.success_url)
        .bind(&s.fail_url)
        .bind(&s.notify_url)
        .bind(s.postback_format.as_str())
        .bind(&s.brand_color)
        .bind(s.page_language.code())
        .bind(s.currencies.join(","))
        .bind(s.service_fee_side.as_str())
        .bind(s.transfer_fee_side.as_str())
        .bind(s.invoice_lifetime_minutes)
        .bind(s.tolerance.kind())
        .bind(s.tolerance.value().to_string())
        .bind(s.email_required)
        .bind(now.as_micros())
        .bind(id.get())
    )?;
    if n == 1 {
        Ok(())
    } else {
        Err(StoreError::NotFound)
    }
}

/// Replaces the API key (hash and hint).
pub async fn set_api_key(
    conn: &mut impl AsConn,
    id: ProjectId,
    hash: &str,
    hint: &str,
    now: Timestamp,
) -> Result<(), StoreError> {
    exec!(
        conn,
        sqlx::query("update project set api_key_hash = $1, api_key_hint = $2, updated_at = $3 where project_id = $4")
            .bind(hash)
            .bind(hint)
            .bind(now.as_micros())
            .bind(id.get())
    )?;
    Ok(())
}

/// Replaces the sealed postback secret.
pub async fn set_secret_key(
    conn: &mut impl AsConn,
    id: ProjectId,
    sealed: &str,
    now: Timestamp,
) -> Result<(), StoreError> {
    exec!(
        conn,
        sqlx::query("update project set secret_key = $1, updated_at = $2 where project_id = $3")
            .bind(sealed)
            .bind(now.as_micros())
            .bind(id.get())
    )?;
    Ok(())
}

/// Switches test mode.
pub async fn set_test_mode(
    conn: &mut impl AsConn,
    id: ProjectId,
    test: bool,
    now: Timestamp,
) -> Result<(), StoreError> {
    exec!(
        conn,
        sqlx::query("update project set test_mode = $1, updated_at = $2 where project_id = $3")
            .bind(test)
            .bind(now.as_micros())
            .bind(id.get())
    )?;
    Ok(())
}

/// Archives (or restores, with `None`) a project.
pub async fn set_archived(
    conn: &mut impl AsConn,
    id: ProjectId,
    at: Option<Timestamp>,
    now: Timestamp,
) -> Result<(), StoreError> {
    exec!(
        conn,
        sqlx::query("update project set archived_at = $1, updated_at = $2 where project_id = $3")
            .bind(at.map(Timestamp::as_micros))
            .bind(now.as_micros())
            .bind(id.get())
    )?;
    Ok(())
}

/// Stores (or removes) the logo, a re-encoded PNG.
pub async fn set_logo(
    conn: &mut impl AsConn,
    id: ProjectId,
    png: Option<&[u8]>,
    now: Timestamp,
) -> Result<(), StoreError> {
    exec!(
        conn,
        sqlx::query(
            "update project set logo = $1, logo_version = case when $1 is null then 0 else logo_version + 1 end, \
             updated_at = $2 where project_id = $3"
        )
        .bind(png)
        .bind(now.as_micros())
        .bind(id.get())
    )?;
    Ok(())
}

/// The logo PNG, if any.
pub async fn logo(conn: &mut impl AsConn, id: ProjectId) -> Result<Option<Vec<u8>>, StoreError> {
    let v: Option<Option<Vec<u8>>> = sql!(conn, |c| sqlx::query_scalar(
        "select logo from project where project_id = $1"
    )
    .bind(id.get())
    .fetch_optional(c)
    .await)?;
    Ok(v.flatten())
}

/// The projects a staff member is limited to (empty: all of the merchant's).
pub async fn scope_of(conn: &mut impl AsConn, user: UserId) -> Result<Vec<ProjectId>, StoreError> {
    let ids: Vec<i64> = sql!(conn, |c| sqlx::query_scalar(
        "select project_id from user_project where user_id = $1 order by project_id"
    )
    .bind(user.get())
    .fetch_all(c)
    .await)?;
    Ok(ids.into_iter().map(ProjectId::new).collect())
}

/// Whether `user` may see `project`: owners see all, staff their scope (empty: all).
pub async fn may_see(
    conn: &mut impl AsConn,
    user: UserId,
    is_owner: bool,
    project: ProjectId,
) -> Result<bool, StoreError> {
    if is_owner {
        return Ok(true);
    }
    let scope = scope_of(conn, user).await?;
    Ok(scope.is_empty() || scope.contains(&project))
}

/// Limits a staff member to `projects` (empty: no limit).
pub async fn set_scope(
    conn: &mut impl AsConn,
    user: UserId,
    projects: &[ProjectId],
    now: Timestamp,
) -> Result<(), StoreError> {
    exec!(
        conn,
        sqlx::query("delete from user_project where user_id = $1").bind(user.get())
    )?;
    for p in projects {
        exec!(
            conn,
            sqlx::query(
                "insert into user_project (user_id, project_id, created_at) values ($1, $2, $3)"
            )
            .bind(user.get())
            .bind(p.get())
            .bind(now.as_micros())
        )?;
    }
    Ok(())
}
