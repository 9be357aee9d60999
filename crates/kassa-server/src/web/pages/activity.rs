//! The activity log: who changed what, when, with filters and paging.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use kassa_core::UserId;
use kassa_service::payment_view::parse_day;
use kassa_store::accounts::{self as users, UserRow};
use kassa_store::audit::{self, ActivityFilter, ActivityRow};
use serde::Deserialize;

use crate::state::AppState;
use crate::web::context::{Me, Page, WebCtx, html};
use crate::web::errors::WebError;
use crate::web::forms::FieldErrors;
use crate::web::pages::QueryData;

const PAGE_SIZE: i64 = 50;

/// The areas of the log: the filter's value and the actions it covers (their prefix).
const AREAS: [(&str, &str); 7] = [
    ("account", "account."),
    ("staff", "staff."),
    ("projects", "project."),
    ("invoices", "invoice."),
    ("withdrawals", "withdrawal."),
    ("payments", "payments."),
    ("balance", "balance."),
];

/// Filters from the query string.
#[derive(Deserialize, Default)]
pub struct Filters {
    #[serde(default)]
    actor: String,
    #[serde(default)]
    area: String,
    #[serde(default)]
    project: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    before: Option<i64>,
}

#[derive(Template)]
#[template(path = "activity.html")]
struct ActivityPage<'a> {
    page: &'a Page,
    rows: Vec<ActivityRow>,
    members: Vec<UserRow>,
    areas: Vec<(&'static str, String)>,
    projects: Vec<(i64, String)>,
    f: &'a Filters,
    errors: &'a FieldErrors,
    older: Option<String>,
}

/// `GET /activity`
pub async fn list(
    State(st): State<AppState>,
    ctx: WebCtx,
    Me(me): Me,
    QueryData(f): QueryData<Filters>,
) -> Result<Response, WebError> {
    let page = Page::new(&ctx, "activity.title");
    let mut errors = FieldErrors::new();
    let from = match f.from.trim() {
        "" => None,
        s => parse_day(s).or_else(|| {
            errors.add(page.tr, "from", "activity.bad_date");
            None
        }),
    };
    let until = match f.to.trim() {
        "" => None,
        s => match parse_day(s) {
            Some(t) => Some(t.saturating_add(std::time::Duration::from_secs(86_400))),
            None => {
                errors.add(page.tr, "to", "activity.bad_date");
                None
            }
        },
    };
    let area = AREAS
        .iter()
        .find(|(code, _)| *code == f.area)
        .map(|(_, prefix)| (*prefix).to_owned());
    // The projects this person may see; another merchant's or a hidden one matches nothing.
    let visible = kassa_service::projects::visible_to(
        &mut st.db.conn().await?,
        me.user.merchant_id,
        me.user.id,
        me.user.role == kassa_core::account::Role::Owner,
    )
    .await?
    .into_iter()
    .map(|p| (p.id.get(), p.settings.name))
    .collect::<Vec<_>>();
    let project =
        f.project
            .parse::<i64>()
            .ok()
            .map(|id| match visible.iter().any(|(p, _)| *p == id) {
                true => kassa_core::ProjectId::new(id),
                false => kassa_core::ProjectId::new(-1),
            });
    let filter = ActivityFilter {
        actor: f.actor.parse::<i64>().ok().map(UserId::new),
        project,
        action_prefix: area,
        from,
        until,
        before_id: f.before,
    };
    let mut conn = st.db.conn().await?;
    let rows = audit::activity_of(&mut conn, me.user.merchant_id, &filter, PAGE_SIZE).await?;
    let members = users::users_of_merchant(&mut conn, me.user.merchant_id).await?;
    let older = (rows.len() as i64 == PAGE_SIZE).then(|| {
        let last = rows.last().map_or(0, |r| r.id);
        let q = [
            ("actor", f.actor.as_str()),
            ("area", f.area.as_str()),
            ("project", f.project.as_str()),
            ("from", f.from.as_str()),
            ("to", f.to.as_str()),
        ];
        let mut s: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(q.iter().filter(|(_, v)| !v.is_empty()))
            .finish();
        if !s.is_empty() {
            s.push('&');
        }
        format!("/activity?{s}before={last}")
    });
    let areas = AREAS
        .iter()
        .map(|(code, _)| (*code, page.t(&format!("activity.areas.{code}")).to_owned()))
        .collect();
    Ok(html(
        ActivityPage {
            page: &page,
            rows,
            members,
            areas,
            projects: visible,
            f: &f,
            errors: &errors,
            older,
        }
        .render()?,
    ))
}

impl ActivityPage<'_> {
    /// The action in words.
    fn action_label(&self, action: &str) -> String {
        let key = format!("action.{action}");
        let label = self.page.t(&key);
        if label == key {
            action.to_owned()
        } else {
            label.to_owned()
        }
    }

    /// Details as people read them: `field: old → new` for changes, `field: value` otherwise.
    fn details_text(&self, row: &ActivityRow) -> String {
        describe(&row.details)
    }
}

fn show(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) if s.is_empty() => "—".to_owned(),
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "—".to_owned(),
        serde_json::Value::Object(m) if m.is_empty() => "—".to_owned(),
        serde_json::Value::Object(m) => m
            .iter()
            .map(|(k, v)| format!("{k}={}", show(v)))
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    }
}

/// Renders activity details: a `before`/`after` pair as the fields that changed, anything
/// else as `key: value` pairs.
pub fn describe(details: &serde_json::Value) -> String {
    let Some(map) = details.as_object() else {
        return String::new();
    };
    let mut parts = Vec::new();
    if let (Some(before), Some(after)) = (
        map.get("before").and_then(|v| v.as_object()),
        map.get("after").and_then(|v| v.as_object()),
    ) {
        let mut keys: Vec<&String> = before.keys().chain(after.keys()).collect();
        keys.sort();
        keys.dedup();
        for k in keys {
            let (b, a) = (
                before.get(k).unwrap_or(&serde_json::Value::Null),
                after.get(k).unwrap_or(&serde_json::Value::Null),
            );
            if b != a {
                parts.push(format!("{k}: {} → {}", show(b), show(a)));
            }
        }
    }
    for (k, v) in map.iter().filter(|(k, _)| *k != "before" && *k != "after") {
        parts.push(format!("{k}: {}", show(v)));
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::describe;

    #[test]
    fn details_read_as_changes() {
        let d = json!({"before": {"name": "", "language": "en"}, "after": {"name": "Marina", "language": "en"}});
        assert_eq!(describe(&d), "name: — → Marina");
        assert_eq!(
            describe(&json!({"email": "a@b.example", "sessions_ended": 2})),
            "email: a@b.example; sessions_ended: 2"
        );
        assert_eq!(describe(&json!({})), "");
        let s = json!({"before": {"role": "viewer", "sections": {}}, "after": {"role": "viewer", "sections": {"export": true}}});
        assert_eq!(describe(&s), "sections: — → export=true");
    }
}
