//! Hostile input against the real server on both engines: every body-reading endpoint — the
//! merchant API, every dashboard form, the payment page — gets every body of the corpus
//! (`hostile/corpus.txt`) under several content types, and query strings get the same
//! treatment. No answer may be a 5xx, and `/healthz` must answer after each request: one
//! request must never take the process down for everyone.

use std::time::Duration;

use kassa_server::web::routes;
use reqwest::StatusCode;
use serde_json::json;

use crate::engine_test;
use crate::support::TestApp;
use crate::support::accounts::sign_in;
use crate::support::api::shop;

/// One body of the corpus.
struct Case {
    name: String,
    body: Vec<u8>,
}

/// Reads the corpus, expanding its escapes and repeats.
fn corpus() -> Vec<Case> {
    include_str!("hostile/corpus.txt")
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|line| {
            let (name, spec) = line
                .split_once('\t')
                .unwrap_or_else(|| panic!("corpus line without a tab: {line}"));
            Case {
                name: name.to_owned(),
                body: expand(spec),
            }
        })
        .collect()
}

/// `<<N*text>>` repeats, then `\n \r \t \\ \xHH` escapes (anything else after `\` is kept).
fn expand(spec: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = spec;
    while let Some(start) = rest.find("<<") {
        out.extend(unescape(&rest[..start]));
        let inner = &rest[start + 2..];
        let end = inner.find(">>").expect("unclosed <<");
        let (count, text) = inner[..end].split_once('*').expect("<<N*text>>");
        let count: usize = count.parse().expect("repeat count");
        out.extend(unescape(text).repeat(count));
        rest = &inner[end + 2..];
    }
    out.extend(unescape(rest));
    out
}

fn unescape(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match (b[i], b.get(i + 1)) {
            (b'\\', Some(b'n')) => (out.push(b'\n'), i += 2).1,
            (b'\\', Some(b'r')) => (out.push(b'\r'), i += 2).1,
            (b'\\', Some(b't')) => (out.push(b'\t'), i += 2).1,
            (b'\\', Some(b'\\')) => (out.push(b'\\'), i += 2).1,
            (b'\\', Some(b'x')) => {
                let hex = std::str::from_utf8(&b[i + 2..i + 4]).expect("\\xHH");
                out.push(u8::from_str_radix(hex, 16).expect("\\xHH"));
                i += 4;
            }
            (c, _) => (out.push(c), i += 1).1,
        }
    }
    out
}

const CONTENT_TYPES: [&str; 5] = [
    "application/json",
    "application/x-www-form-urlencoded",
    "text/plain",
    "multipart/form-data; boundary=x",
    "",
];

/// A client that opens a new connection for every request: a server that answers before
/// reading a large body may close that connection, which is allowed, and must not be mistaken
/// for a server that stopped serving.
fn fresh_client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Checks an answer, and that the server still serves (asking `/healthz` over a new
/// connection of `fresh`).
async fn check(app: &TestApp, fresh: &reqwest::Client, what: &str, status: StatusCode) {
    assert!(
        !status.is_server_error(),
        "{what} answered {status}: one request must not break the server"
    );
    let health = fresh
        .get(format!("{}/healthz", app.base))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .unwrap_or_else(|e| panic!("after {what}, /healthz did not answer: {e}"));
    assert_eq!(health.status(), StatusCode::OK, "/healthz after {what}");
}

#[test]
fn the_corpus_reads_as_written() {
    let cases = corpus();
    assert!(cases.len() >= 40, "{} cases", cases.len());
    let get = |n: &str| &cases.iter().find(|c| c.name == n).expect(n).body;
    assert_eq!(
        get("deep-form-key").len(),
        "add_fields".len() + 3 * 7000 + 2
    );
    assert_eq!(&get("invalid-utf8")[..10], b"amount=\xff\xfe&");
    assert_eq!(get("nul-json"), br#"{"amount":"1\u0000","currency":"USD"}"#);
    let obj = get("deep-json-object");
    assert!(
        obj.starts_with(br#"{"a":{"a":"#)
            && obj.ends_with(b"}}}")
            && obj.len() == 5 * 5000 + 1 + 5000
    );
}

engine_test!(
    async fn hostile_api_bodies_are_refused_cleanly(engine) {
        let app = TestApp::spawn(engine).await;
        let shop = shop(&app, "owner@hostile.example", "").await;
        let invoice = shop.create(10.0, json!({})).await;
        let uuid = invoice["uuid"].as_str().unwrap().to_owned();
        let paths = [
            "/v2/invoice/create".to_owned(),
            "/v2/invoice/merchant/canceled".to_owned(),
            "/v2/invoice/merchant/list".to_owned(),
            "/v2/invoice/merchant/info".to_owned(),
            "/v2/invoice/merchant/statistics".to_owned(),
            "/v2/merchant/statistics".to_owned(),
            "/v2/merchant/wallet/balance/all".to_owned(),
            "/v2/invoice/static/create".to_owned(),
            "/v1/invoice/create".to_owned(),
            format!("/api/v1/test-helpers/invoices/{}/pay", uuid.trim_start_matches("INV-")),
        ];
        let cases = corpus();
        let client = fresh_client();
        let fresh = fresh_client();
        for path in &paths {
            for case in &cases {
                for ct in CONTENT_TYPES {
                    let mut req = client
                        .post(format!("{}{path}", app.base))
                        .header("Authorization", format!("Token {}", shop.key))
                        .body(case.body.clone());
                    if !ct.is_empty() {
                        req = req.header("Content-Type", ct);
                    }
                    let r = req.send().await.unwrap_or_else(|e| {
                        panic!("POST {path} with {} as {ct:?}: connection failed: {e}", case.name)
                    });
                    let status = r.status();
                    let what = format!("POST {path} with {} as {ct:?}", case.name);
                    if status == StatusCode::BAD_REQUEST {
                        // Refusals keep the API's error shape (the CryptoCloud one, or the
                        // native test helper's).
                        let body: serde_json::Value = r.json().await.unwrap_or_default();
                        assert!(
                            body["status"] == "error" || body["error"]["code"].is_string(),
                            "{what}: {body}"
                        );
                    }
                    check(&app, &fresh, &what, status).await;
                }
            }
        }
        // The reported crash, exactly: a 400 naming the limit, and the server keeps serving.
        let crash = format!("add_fields{}=1", "[x]".repeat(7_000));
        let r = shop.post_form("/v2/invoice/merchant/info", &crash).await;
        r.assert_field_error("body", "Fields are nested too deeply (at most 8 levels).");
        let ok = shop.info(&[&uuid]).await;
        assert_eq!(ok.len(), 1);
    }
);

engine_test!(
    async fn hostile_query_strings_are_refused_cleanly(engine) {
        let app = TestApp::spawn(engine).await;
        let shop = shop(&app, "owner@hostile.example", "").await;
        let invoice = shop.create(10.0, json!({})).await;
        let uuid = invoice["uuid"].as_str().unwrap().trim_start_matches("INV-").to_owned();
        let s = sign_in(&app, "owner@hostile.example").await;
        let fresh = fresh_client();
        let queries = [
            "a=%ff%fe&lang=\u{0}".to_owned(),
            "lang=ru&lang=en".to_owned(),
            "lang[x][y]=1".to_owned(),
            (0..500).map(|i| format!("k{i}=1&")).collect::<String>(),
            format!("next={}", "a".repeat(8_000)),
            format!("next=/{}", "%2F".repeat(1_000)),
            "status=%00&page=-1&from=99999999999999999999".to_owned(),
            "uuid=INV-AAAAAAAA&uuid[]=x".to_owned(),
        ];
        let project = shop.id.get();
        let gets = [
            "/v1/invoice/info".to_owned(),
            format!("/pay/{uuid}"),
            "/login".to_owned(),
            "/activity".to_owned(),
            format!("/projects/{project}/invoices"),
            "/account/reauth".to_owned(),
        ];
        for path in &gets {
            for q in &queries {
                let what = format!("GET {path}?{}", &q[..q.len().min(40)]);
                let r = s.get(&format!("{path}?{q}")).await;
                check(&app, &fresh, &what, r.status).await;
            }
        }
    }
);

engine_test!(
    async fn hostile_forms_are_refused_cleanly(engine) {
        let app = TestApp::spawn(engine).await;
        let shop = shop(&app, "owner@hostile.example", "").await;
        let invoice = shop.create(10.0, json!({})).await;
        let uuid = invoice["uuid"].as_str().unwrap().trim_start_matches("INV-").to_owned();
        let project = shop.id.get().to_string();
        let mut s = sign_in(&app, "owner@hostile.example").await;
        s.get("/dashboard").await;
        let cases = corpus();
        let fresh = fresh_client();
        let mut posts: Vec<String> = routes()
            .iter()
            .filter(|r| r.method == reqwest::Method::POST)
            .map(|r| {
                r.path
                    .replace("{id}", &project)
                    .replace("{uuid}", &uuid)
                    .replace("{token}", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
            })
            .collect();
        // Signing out ends the session the others need: last.
        posts.sort_by_key(|p| p == "/logout");
        posts.push(format!("/pay/{uuid}"));
        posts.push(format!("/pay/{uuid}/simulate"));
        for path in &posts {
            for case in &cases {
                for ct in ["application/x-www-form-urlencoded", "application/json", "multipart/form-data; boundary=x"] {
                    let what = format!("POST {path} with {} as {ct}", case.name);
                    let r = s.post_bytes_csrf(path, ct, case.body.clone()).await;
                    check(&app, &fresh, &what, r.status).await;
                }
            }
            // A form that ended the session (sign-out) or sent the browser elsewhere: start over.
            if !crate::support::accounts::signed_in(&s).await && path != "/logout" {
                s = sign_in(&app, "owner@hostile.example").await;
                s.get("/dashboard").await;
            }
        }
    }
);
