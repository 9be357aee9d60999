//! The notification center (`/notifications`: newest first, paged, mark one or all read, each
//! line linking to what it is about; `/notifications/count` for the bell) and the person's
//! choices (`/account/notifications`: an event × channel grid over the defaults, and linking
//! a Telegram chat). See `kassa_service::notify`.

use askama::Template;
use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse as _, Redirect, Response};
use kassa_service::notify::{self, Channel, KINDS};
use kassa_store::notifications as store;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{FormPairs, QueryData, query_string};
use crate::state::AppState;
use crate::web::context::{Me, Page, WebCtx, html, redirect_with_flash};
use crate::web::errors::WebError;

/// Lines on a page of the center.
const PAGE_SIZE: i64 = 30;

/// A line as shown.
struct NoteView {
    id: i64,
    title: String,
    body: String,
    link: Option<String>,
    unread: bool,
    when: String,
}

#[derive(Template)]
#[template(path = "notifications/list.html")]
struct ListPage<'a> {
    page: &'a Page,
    notes: Vec<NoteView>,
    older: Option<String>,
    first: Option<String>,
    unread: i64,
}

/// `?before=`
#[derive(Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    before: String,
}

/// `GET /notifications`
pub async fn list(
    State(st): State<AppState>,
    ctx: WebCtx,
    Me(me): Me,
    QueryData(q): QueryData<ListQuery>,
) -> Result<Response, WebError> {
    let page = Page::new(&ctx, "notify.title");
    let before = q.before.trim().parse::<i64>().ok().filter(|b| *b > 0);
    let (rows, next) = notify::center(&st, &me.user, before, PAGE_SIZE).await?;
    let unread = store::unread(&mut st.db.conn().await?, me.user.id).await?;
    let notes = rows
        .into_iter()
        .map(|(r, text)| NoteView {
            id: r.id,
            title: text.title,
            body: text.body,
            link: r.link,
            unread: r.read_at.is_none(),
            when: page.tr.datetime(r.created_at),
        })
        .collect();
    Ok(html(
        ListPage {
            page: &page,
            notes,
            older: next.map(|n| {
                format!(
                    "/notifications{}",
                    query_string(&[], &[("before", &n.to_string())])
                )
            }),
            first: before.map(|_| "/notifications".to_owned()),
            unread,
        }
        .render()?,
    ))
}

/// `GET /notifications/count`: `{"unread": n}` for the bell.
pub async fn count(State(st): State<AppState>, Me(me): Me) -> Result<Json<Value>, WebError> {
    let n = store::unread(&mut st.db.conn().await?, me.user.id).await?;
    Ok(Json(json!({"unread": n})))
}

/// The read form: one line (`id`, and where to go next) or all of them.
#[derive(Deserialize, Default)]
pub struct ReadInput {
    #[serde(default)]
    id: String,
    #[serde(default)]
    go: String,
}

/// `POST /notifications/read`: marks one line (then opens what it links to, when asked) or
/// every line read.
pub async fn read(
    State(st): State<AppState>,
    Me(me): Me,
    super::FormData(input): super::FormData<ReadInput>,
) -> Result<Response, WebError> {
    let id = input.id.trim().parse::<i64>().ok();
    let now = st.clock.now();
    store::mark_read(&mut st.db.write().await?, me.user.id, id, now).await?;
    // Only the person's own dashboard paths are followed.
    let go = input.go.trim();
    let to = if go.starts_with('/') && !go.starts_with("//") && !go.contains('\\') {
        go.to_owned()
    } else {
        "/notifications".to_owned()
    };
    Ok(Redirect::to(&to).into_response())
}

/// A row of the preferences grid.
struct PrefRow {
    key: &'static str,
    label: String,
    cells: Vec<(String, bool, bool)>,
}

#[derive(Template)]
#[template(path = "notifications/prefs.html")]
struct PrefsPage<'a> {
    page: &'a Page,
    rows: Vec<PrefRow>,
    channels: Vec<(&'static str, String)>,
    telegram_on: bool,
    chat: Option<i64>,
    link: Option<String>,
}

async fn render_prefs(
    st: &AppState,
    ctx: &WebCtx,
    me: &crate::web::context::Viewer,
    link: Option<String>,
) -> Result<Response, WebError> {
    let page = Page::new(ctx, "notify.prefs.title");
    let tr = page.tr;
    let mut conn = st.db.conn().await?;
    let prefs = store::prefs(&mut conn, me.user.id).await?;
    let chat = store::chat_of(&mut conn, me.user.id).await?;
    drop(conn);
    let telegram_on = st.config.telegram.enabled();
    let channels: Vec<Channel> = Channel::ALL
        .into_iter()
        .filter(|c| *c != Channel::Telegram || telegram_on)
        .collect();
    let rows = KINDS
        .iter()
        .filter(|k| notify::relevant(k, &me.grants))
        .map(|k| PrefRow {
            key: k.key,
            label: tr.t(&format!("notify.kind.{}", k.key)).to_owned(),
            cells: channels
                .iter()
                .map(|c| {
                    (
                        format!("{}:{}", k.key, c.as_str()),
                        notify::enabled(k, *c, &prefs),
                        *c == Channel::Email && k.email_forced,
                    )
                })
                .collect(),
        })
        .collect();
    Ok(html(
        PrefsPage {
            page: &page,
            rows,
            channels: channels
                .iter()
                .map(|c| {
                    (
                        c.as_str(),
                        tr.t(&format!("notify.prefs.{}", c.as_str())).to_owned(),
                    )
                })
                .collect(),
            telegram_on,
            chat,
            link,
        }
        .render()?,
    ))
}

/// `GET /account/notifications`
pub async fn prefs(
    State(st): State<AppState>,
    ctx: WebCtx,
    Me(me): Me,
) -> Result<Response, WebError> {
    render_prefs(&st, &ctx, &me, None).await
}

/// `POST /account/notifications`: the grid; a box not sent is off.
pub async fn save_prefs(
    State(st): State<AppState>,
    Me(me): Me,
    FormPairs(pairs): FormPairs,
) -> Result<Response, WebError> {
    let on: std::collections::HashSet<&str> = pairs
        .iter()
        .filter(|(k, _)| k == "on")
        .map(|(_, v)| v.as_str())
        .collect();
    let mut tx = st.db.begin().await?;
    for k in KINDS.iter().filter(|k| notify::relevant(k, &me.grants)) {
        for c in Channel::ALL {
            if c == Channel::Email && k.email_forced {
                continue;
            }
            let key = format!("{}:{}", k.key, c.as_str());
            store::set_pref(
                &mut tx,
                me.user.id,
                k.key,
                c.as_str(),
                on.contains(key.as_str()),
            )
            .await?;
        }
    }
    tx.commit().await?;
    Ok(redirect_with_flash(
        &st,
        "/account/notifications",
        's',
        "flash.saved",
    ))
}

/// `POST /account/notifications/telegram`: a fresh one-time deep link, shown on the page.
pub async fn telegram_link(
    State(st): State<AppState>,
    ctx: WebCtx,
    Me(me): Me,
) -> Result<Response, WebError> {
    let link = notify::link::link_for(&st, me.user.id).await?;
    render_prefs(&st, &ctx, &me, link).await
}

/// `POST /account/notifications/telegram/unlink`
pub async fn telegram_unlink(State(st): State<AppState>, Me(me): Me) -> Result<Response, WebError> {
    notify::link::unlink(&st, me.user.id).await?;
    Ok(redirect_with_flash(
        &st,
        "/account/notifications",
        's',
        "flash.saved",
    ))
}
