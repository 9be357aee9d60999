//! The Payments section on both engines: one table of every invoice across the projects a
//! person may see, each filter and status, exact search, keyset pages that neither skip nor
//! repeat while invoices arrive, columns saved per person, and the CSV export equal to the
//! view (with the export right, in the activity log).

use std::collections::BTreeSet;

use kassa_core::account::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::engine_test;
use crate::support::TestApp;
use crate::support::accounts::{sign_in, staff};
use crate::support::api::*;
use crate::support::web::{Resp, Session, unescape};

/// The invoice ids (`INV-…`) a payments page lists, in order.
fn listed(r: &Resp) -> Vec<String> {
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let mut out = Vec::new();
    let mut rest = r.body.as_str();
    while let Some(i) = rest.find("<code>INV-") {
        let tail = &rest[i + 6..];
        let id: String = tail.chars().take(12).collect();
        out.push(id);
        rest = &tail[12..];
    }
    out
}

/// The "older" link of a page, if any.
fn older(r: &Resp) -> Option<String> {
    let body = &r.body;
    let end = body.find(">Older</a>")?;
    let start = body[..end].rfind("href=\"")? + 6;
    Some(unescape(&body[start..end - 1]).replace("&#38;", "&"))
}

async fn every_page(s: &Session, first: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut next = Some(first.to_owned());
    while let Some(path) = next {
        let r = s.get(&path).await;
        ids.extend(listed(&r));
        next = older(&r);
    }
    ids
}

/// The daily totals statistics read equal the sums of the invoices themselves.
async fn totals_are_the_sums(app: &TestApp, owner: kassa_core::UserId) {
    use kassa_store::payment_list::{Mode, PaymentQuery, StatRow, stats, stats_raw};
    let mut c = app.state.db.conn().await.unwrap();
    let merchant = kassa_store::accounts::user_by_id(&mut c, owner)
        .await
        .unwrap()
        .merchant_id;
    let q = PaymentQuery {
        mode: Mode::All,
        ..PaymentQuery::of(merchant)
    };
    let key = |r: &StatRow| {
        (
            r.day,
            r.status.as_str(),
            r.currency.clone(),
            r.project,
            r.count,
            r.cents,
        )
    };
    let mut totals: Vec<_> = stats(&mut c, &q).await.unwrap().iter().map(key).collect();
    let mut raw: Vec<_> = stats_raw(&mut c, &q)
        .await
        .unwrap()
        .iter()
        .map(key)
        .collect();
    totals.sort();
    raw.sort();
    assert!(!raw.is_empty());
    assert_eq!(totals, raw, "daily totals against the invoices");
}

fn uuid(v: &Value) -> String {
    v["uuid"].as_str().unwrap().to_owned()
}

engine_test!(
    async fn every_filter_and_search_finds_exactly_its_invoices(engine) {
        let app = TestApp::spawn(engine).await;
        app.clock.set(T0);
        let a = shop(&app, "o@shop.example", "").await;
        let b = shop_of(&app, a.owner, "").await;
        // Project A: paid in LTC, partly paid in USDT, waiting with a payment in flight, plain
        // waiting; project B: paid in USDT with an order id and e-mail, cancelled.
        let paid_ltc = a.create(10.0, json!({"add_fields": {"cryptocurrency": "LTC"}})).await;
        a.pay_ok(&uuid(&paid_ltc), json!({"amount": "0.1"})).await;
        let partial = a.create(20.0, json!({"add_fields": {"cryptocurrency": "USDT_TRC20"}})).await;
        a.pay_ok(&uuid(&partial), json!({"amount": "5"})).await;
        let processing = a.create(30.0, json!({"add_fields": {"cryptocurrency": "BTC"}})).await;
        a.pay_ok(&uuid(&processing), json!({"amount": "0.0001", "confirmed": false})).await;
        let waiting = a.create(40.0, json!({})).await;
        app.clock.advance(std::time::Duration::from_secs(3 * 86_400));
        let paid_b = b.create(50.0, json!({"order_id": "ORDER-77", "email": "payer@example.com", "add_fields": {"cryptocurrency": "USDT_TRC20"}})).await;
        let paid_b_info = b.pay_ok(&uuid(&paid_b), json!({"amount": "50"})).await;
        let canceled = b.create(60.0, json!({})).await;
        b.post("/v2/invoice/merchant/canceled", json!({"uuid": uuid(&canceled)})).await.success();
        let s = sign_in(&app, "o@shop.example").await;
        let all = [&paid_ltc, &partial, &processing, &waiting, &paid_b, &canceled];
        let ids = |vs: &[&Value]| vs.iter().map(|v| uuid(v)).collect::<BTreeSet<_>>();
        let set = |r: &Resp| listed(r).into_iter().collect::<BTreeSet<_>>();
        // Test invoices show only when asked; newest first.
        assert!(listed(&s.get("/payments").await).is_empty(), "live only by default");
        let r = s.get("/payments?mode=test").await;
        assert_eq!(listed(&r).first(), Some(&uuid(&canceled)), "newest first");
        assert_eq!(set(&r), ids(&all));
        assert_eq!(set(&s.get("/payments?mode=all").await), ids(&all));
        for (q, want) in [
            ("status=paid", vec![&paid_ltc, &paid_b]),
            ("status=partial", vec![&partial]),
            ("status=processing", vec![&processing]),
            ("status=created", vec![&processing, &waiting]),
            ("status=canceled", vec![&canceled]),
            ("status=overpaid", vec![]),
            ("status=paid_late", vec![]),
            ("currency=LTC", vec![&paid_ltc]),
            ("network=TRC20", vec![&partial, &paid_b]),
            ("network=TRC20&currency=LTC", vec![]),
            (&format!("project={}", b.id) as &str, vec![&paid_b, &canceled]),
            ("to=2025-03-10", vec![&paid_ltc, &partial, &processing, &waiting]),
            ("from=2025-03-11", vec![&paid_b, &canceled]),
            ("q=ORDER-77", vec![&paid_b]),
            ("q=PAYER@example.com", vec![&paid_b]),
            (&format!("q={}", uuid(&partial)) as &str, vec![&partial]),
            (&format!("q={}", uuid(&partial).trim_start_matches("INV-")) as &str, vec![&partial]),
            (&format!("q={}", paid_ltc["address"].as_str().unwrap()) as &str, vec![&paid_ltc]),
            (&format!("q={}", paid_b_info["tx_list"][0].as_str().unwrap()) as &str, vec![&paid_b]),
            ("q=nothing-like-this", vec![]),
        ] {
            let r = s.get(&format!("/payments?mode=test&{q}")).await;
            assert_eq!(set(&r), ids(&want), "{q}");
        }
        // A filter that does not parse is shown next to its field, never a 500.
        for (q, field) in [("from=10.03.2025", "from"), ("status=lost", "status"), ("currency=XYZ", "currency"), ("project=999", "project"), ("mode=sometimes", "mode")] {
            let r = s.get(&format!("/payments?{q}")).await;
            assert_eq!(r.status, StatusCode::OK, "{q}");
            assert!(r.has(&format!("id=\"e-{field}\"")), "{q}: {}", r.body);
        }
        totals_are_the_sums(&app, a.owner).await;
        // Rows open the invoice page.
        let r = s.get("/payments?mode=test&q=ORDER-77").await;
        assert!(r.has(&format!("href=\"/projects/{}/invoices/{}\"", b.id, uuid(&paid_b).trim_start_matches("INV-"))));
    }
);

engine_test!(
    async fn keyset_pages_neither_skip_nor_repeat_while_invoices_arrive(engine) {
        let app = TestApp::spawn(engine).await;
        app.clock.set(T0);
        let a = shop(&app, "o@shop.example", "").await;
        let mut made = Vec::new();
        for i in 0..120 {
            // Several invoices share a microsecond: the id breaks the tie.
            if i % 3 == 0 {
                app.clock.advance(std::time::Duration::from_millis(1));
            }
            made.push(uuid(&a.create(1.0 + f64::from(i), json!({})).await));
        }
        let s = sign_in(&app, "o@shop.example").await;
        let mut seen = Vec::new();
        let mut next = Some("/payments?mode=test".to_owned());
        let mut pages = 0;
        while let Some(path) = next {
            let r = s.get(&path).await;
            seen.extend(listed(&r));
            next = older(&r);
            pages += 1;
            assert!(pages < 10, "pages never end");
            // New invoices arrive between pages: they belong above the first page.
            app.clock.advance(std::time::Duration::from_millis(1));
            a.create(999.0, json!({})).await;
        }
        assert_eq!(pages, 3);
        made.reverse();
        assert_eq!(seen, made, "every invoice once, newest first");
    }
);

engine_test!(
    async fn columns_are_saved_per_person_and_the_export_is_the_view(engine) {
        let app = TestApp::spawn(engine).await;
        app.clock.set(T0);
        let a = shop(&app, "o@shop.example", "").await;
        let b = shop_of(&app, a.owner, "").await;
        let viewer = staff(&app, a.owner, "viewer@shop.example", Role::Viewer).await;
        let paid = a.create(12.5, json!({"order_id": "A-1", "add_fields": {"cryptocurrency": "USDT_TRC20"}})).await;
        a.pay_ok(&uuid(&paid), json!({"amount": "12.5"})).await;
        let other = b.create(7.0, json!({"order_id": "B-1"})).await;
        for i in 0..1500 {
            a.create(1.0 + f64::from(i % 7), json!({"order_id": format!("bulk-{i}")})).await;
        }
        let s = sign_in(&app, "o@shop.example").await;
        let r = s.get("/payments?mode=test").await;
        assert!(r.has(">Created</th><th scope=\"col\">Invoice</th>"), "the default columns");
        // Choose and order: status, then invoice, then order id, then USD received.
        let r = s
            .post(
                "/payments/columns",
                &[("col_invoice", "1"), ("pos_invoice", "2"), ("col_status", "1"), ("pos_status", "1"), ("col_order_id", "1"), ("pos_order_id", "3"), ("col_received_usd", "1"), ("pos_received_usd", "4"), ("pos_created", "1"), ("back", "/payments?mode=test&project=1")],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        assert_eq!(r.location.as_deref(), Some("/payments?mode=test&project=1"));
        let r = s.get("/payments?mode=test").await;
        assert!(r.has("<th scope=\"col\">Status</th><th scope=\"col\">Invoice</th><th scope=\"col\">Order</th><th scope=\"col\">Received, USD</th></tr>"), "chosen columns after a reload");
        // Another person keeps the default.
        let v = sign_in(&app, "viewer@shop.example").await;
        assert!(v.get("/payments?mode=test").await.has(">Created</th><th scope=\"col\">Invoice</th>"));
        // A viewer may not export.
        assert_eq!(v.get("/payments/export?mode=test").await.status, StatusCode::FORBIDDEN);
        let _ = viewer;
        // The export: exactly the filtered view (project A), every row across batches, the
        // chosen columns, exact amounts.
        let r = s.get(&format!("/payments/export?format=csv&mode=test&project={}", a.id)).await;
        assert_eq!(r.status, StatusCode::OK);
        let mut csv = csv::Reader::from_reader(r.body.as_bytes());
        let header: Vec<String> = csv.headers().unwrap().iter().map(str::to_owned).collect();
        assert_eq!(header, ["status", "invoice", "order_id", "received_usd"]);
        let records: Vec<Vec<String>> = csv.records().map(|r| r.unwrap().iter().map(str::to_owned).collect()).collect();
        assert_eq!(records.len(), 1501);
        let view = every_page(&s, &format!("/payments?mode=test&project={}", a.id)).await;
        let exported: Vec<String> = records.iter().map(|r| r[1].clone()).collect();
        assert_eq!(exported, view, "the export lists the view's invoices in its order");
        assert!(!exported.contains(&uuid(&other)));
        let row = records.iter().find(|r| r[1] == uuid(&paid)).unwrap();
        assert_eq!(row, &vec!["paid".to_owned(), uuid(&paid), "A-1".to_owned(), "12.50".to_owned()]);
        // Bad filters or formats are refused, never a half file.
        assert_eq!(s.get("/payments/export?format=pdf").await.status, StatusCode::BAD_REQUEST);
        assert_eq!(s.get("/payments/export?status=lost").await.status, StatusCode::BAD_REQUEST);
        // Each export is in the activity log.
        let log = s.get("/activity").await;
        assert!(log.has("Exported payments"), "{}", log.body);
    }
);

/// A spreadsheet cell as the text the CSV writes for it: times back to ISO 8601 UTC,
/// numbers in their shortest exact form (compared with the CSV's decimal text normalised).
fn cell_text(d: &calamine::Data) -> String {
    match d {
        calamine::Data::Empty => String::new(),
        calamine::Data::String(s) => s.clone(),
        calamine::Data::Float(f) => format!("{f}"),
        calamine::Data::DateTime(t) => {
            let secs = ((t.as_f64() - 25_569.0) * 86_400.0).round() as i64;
            kassa_core::Timestamp::from_micros(secs * 1_000_000).iso()
        }
        other => panic!("unexpected cell {other:?}"),
    }
}

/// A decimal text without trailing zeros (`12.50` → `12.5`, `3.000` → `3`).
fn normalised(text: &str) -> String {
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text.to_owned()
    }
}

engine_test!(
    async fn the_xlsx_export_holds_the_csv_values_typed(engine) {
        let app = TestApp::spawn(engine).await;
        app.clock.set(T0);
        let a = shop(&app, "o@shop.example", "").await;
        let paid = a.create(12.5, json!({"order_id": "A-1", "email": "payer@example.com", "add_fields": {"cryptocurrency": "USDT_TRC20"}})).await;
        a.pay_ok(&uuid(&paid), json!({"amount": "12.5"})).await;
        // 19 significant digits: more than an Excel number holds, so written as exact text.
        let eth = a.create(40.0, json!({"order_id": "E-1", "add_fields": {"cryptocurrency": "ETH"}})).await;
        a.pay_ok(&uuid(&eth), json!({"amount": "0.001234567890123456"})).await;
        a.create(3.0, json!({"order_id": "waiting"})).await;
        for i in 0..1200 {
            a.create(1.0 + f64::from(i % 5), json!({"order_id": format!("bulk-{i}")})).await;
        }
        let s = sign_in(&app, "o@shop.example").await;
        s.get("/payments?mode=test").await;
        let mut form: Vec<(String, String)> = Vec::new();
        for key in ["created", "invoice", "order_id", "project", "status", "price", "amount", "currency", "received", "received_usd", "fees", "email", "address", "txids", "paid_at", "test", "rate"] {
            form.push((format!("col_{key}"), "1".into()));
        }
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(s.post("/payments/columns", &form).await.status, StatusCode::SEE_OTHER);
        let (status, kind, csv_bytes) = s.download("/payments/export?format=csv&mode=test").await;
        assert_eq!(status, StatusCode::OK);
        assert!(kind.starts_with("text/csv"));
        let (status, kind, xlsx_bytes) = s.download("/payments/export?format=xlsx&mode=test").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(kind, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet");
        let mut csv = csv::Reader::from_reader(csv_bytes.as_slice());
        let header: Vec<String> = csv.headers().unwrap().iter().map(str::to_owned).collect();
        let records: Vec<Vec<String>> = csv.records().map(|r| r.unwrap().iter().map(str::to_owned).collect()).collect();
        assert_eq!(records.len(), 1203);
        use calamine::Reader as _;
        let mut book = calamine::Xlsx::new(std::io::Cursor::new(xlsx_bytes)).expect("an XLSX file");
        let sheet = book.worksheet_range("Payments").expect("the Payments sheet");
        let rows: Vec<Vec<calamine::Data>> = sheet.rows().map(<[calamine::Data]>::to_vec).collect();
        assert_eq!(rows.len(), records.len() + 1, "a header and every row");
        let xlsx_header: Vec<String> = rows[0].iter().map(cell_text).collect();
        assert_eq!(xlsx_header, header);
        let col = |k: &str| header.iter().position(|h| h == k).unwrap();
        let mut numbers = 0;
        for (r, (x, c)) in rows[1..].iter().zip(&records).enumerate() {
            for (i, (xv, cv)) in x.iter().zip(c).enumerate() {
                let key = header[i].as_str();
                match (key, xv) {
                    ("created" | "paid_at", calamine::Data::DateTime(_)) => {
                        assert_eq!(&cell_text(xv), cv, "row {r} {key}");
                    }
                    ("price", calamine::Data::Float(_)) => {
                        let (amount, code) = cv.split_once(' ').unwrap();
                        assert!(matches!(code, "USD" | "ETH" | "USDT_TRC20"), "{cv}");
                        assert_eq!(cell_text(xv), normalised(amount), "row {r} price");
                        numbers += 1;
                    }
                    ("amount" | "received" | "received_usd" | "fees", calamine::Data::Float(_)) => {
                        assert_eq!(cell_text(xv), normalised(cv), "row {r} {key}");
                        numbers += 1;
                    }
                    (_, calamine::Data::String(_) | calamine::Data::Empty) => {
                        assert_eq!(&cell_text(xv), cv, "row {r} {key}: text as in the CSV");
                    }
                    _ => panic!("row {r} {key}: unexpected {xv:?} for {cv:?}"),
                }
            }
        }
        assert!(numbers > 1000, "amounts are numbers");
        // The ETH payment is kept exact, as text.
        let eth_row = records.iter().position(|r| r[col("invoice")] == uuid(&eth)).unwrap();
        assert_eq!(records[eth_row][col("received")], "0.001234567890123456");
        assert_eq!(rows[eth_row + 1][col("received")], calamine::Data::String("0.001234567890123456".into()));
        // The paid invoice: its transaction hash, its time paid as a date-time.
        let paid_row = records.iter().position(|r| r[col("invoice")] == uuid(&paid)).unwrap();
        assert!(!records[paid_row][col("txids")].is_empty());
        assert!(matches!(rows[paid_row + 1][col("paid_at")], calamine::Data::DateTime(_)));
        assert_eq!(rows[paid_row + 1][col("received_usd")], calamine::Data::Float(12.5));
        // Each export is in the activity log, with its format.
        let mut c = app.state.db.conn().await.unwrap();
        let merchant = kassa_store::accounts::user_by_id(&mut c, a.owner).await.unwrap().merchant_id;
        let filter = kassa_store::audit::ActivityFilter {
            action_prefix: Some("payments.exported".into()),
            ..Default::default()
        };
        let log = kassa_store::audit::activity_of(&mut c, merchant, &filter, 10).await.unwrap();
        let formats: Vec<&str> = log.iter().map(|r| r.details["format"].as_str().unwrap()).collect();
        assert_eq!(formats, ["xlsx", "csv"]);
    }
);

engine_test!(
    async fn staff_limited_to_a_project_see_and_export_only_it(engine) {
        let app = TestApp::spawn(engine).await;
        app.clock.set(T0);
        let a = shop(&app, "o@shop.example", "").await;
        let b = shop_of(&app, a.owner, "").await;
        let accountant = staff(&app, a.owner, "accountant@shop.example", Role::Accountant).await;
        {
            let mut c = app.state.db.conn().await.unwrap();
            kassa_store::projects::set_scope(&mut c, accountant, &[b.id], app.now()).await.unwrap();
        }
        let in_a = a.create(5.0, json!({})).await;
        let in_b = b.create(6.0, json!({})).await;
        let s = sign_in(&app, "accountant@shop.example").await;
        let r = s.get("/payments?mode=test").await;
        assert_eq!(listed(&r), vec![uuid(&in_b)]);
        assert!(!r.has(&uuid(&in_a)));
        // Naming the other project is an error, not a way in; nor is searching for it.
        let r = s.get(&format!("/payments?mode=test&project={}", a.id)).await;
        assert!(r.has("id=\"e-project\"") && listed(&r).is_empty());
        assert!(listed(&s.get(&format!("/payments?mode=test&q={}", uuid(&in_a))).await).is_empty());
        let r = s.get("/payments/export?mode=test").await;
        assert_eq!(r.status, StatusCode::OK, "an accountant has the export right");
        assert!(r.body.contains(&uuid(&in_b)) && !r.body.contains(&uuid(&in_a)));
        // An empty view exports its header and nothing else.
        let r = s.get("/payments/export?mode=test&status=overpaid").await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.body.lines().count(), 1, "{}", r.body);
        assert!(r.body.starts_with("created,invoice,"), "{}", r.body);
    }
);

/// The text of the element with `id` (up to the next tag).
fn figure(r: &Resp, id: &str) -> String {
    let marker = format!("id=\"{id}\">");
    let i = r
        .body
        .find(&marker)
        .unwrap_or_else(|| panic!("{id} missing:\n{}", r.body))
        + marker.len();
    unescape(r.body[i..].split('<').next().unwrap())
}

/// The rows of the by-status table: (label, count, amount).
fn by_status(r: &Resp) -> Vec<(String, i64, String)> {
    let i = r.body.find("id=\"by-status\"").expect("by-status table");
    let table = &r.body[i..r.body[i..].find("</table>").unwrap() + i];
    table
        .split("<tr><td>")
        .skip(1)
        .map(|row| {
            let cells: Vec<String> = row
                .split("</td>")
                .map(|c| unescape(c.rsplit('>').next().unwrap_or(c)))
                .collect();
            (
                cells[0].clone(),
                cells[1].parse().unwrap(),
                cells[2].clone(),
            )
        })
        .collect()
}

engine_test!(
    async fn statistics_and_the_home_page_show_the_money_as_the_api_counts_it(engine) {
        let app = TestApp::spawn(engine).await;
        app.clock.set(T0);
        let a = shop(&app, "o@shop.example", "").await;
        let b = shop_of(&app, a.owner, "").await;
        // Project A: two paid (10 and 30.25 USD), one partial (20), one waiting (40);
        // project B: one paid (50) in USDT, one cancelled (60).
        for (usd, pay) in [(10.0, Some("0.1")), (30.25, Some("0.3025")), (20.0, Some("0.05")), (40.0, None)] {
            let inv = a.create(usd, json!({"add_fields": {"cryptocurrency": "LTC"}})).await;
            if let Some(amount) = pay {
                a.pay_ok(&uuid(&inv), json!({"amount": amount})).await;
            }
        }
        let paid_b = b.create(50.0, json!({"add_fields": {"cryptocurrency": "USDT_TRC20"}})).await;
        b.pay_ok(&uuid(&paid_b), json!({"amount": "50"})).await;
        let canceled = b.create(60.0, json!({})).await;
        b.post("/v2/invoice/merchant/canceled", json!({"uuid": uuid(&canceled)})).await.success();
        totals_are_the_sums(&app, a.owner).await;
        let s = sign_in(&app, "o@shop.example").await;
        // The whole merchant, test mode, 7 days.
        let r = s.get("/statistics?period=7&mode=test").await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(figure(&r, "s-turnover"), "90.25 USD");
        assert_eq!(figure(&r, "s-paid"), "3 / 6");
        assert_eq!(figure(&r, "s-conversion"), "50.00 %");
        assert_eq!(figure(&r, "s-average"), "30.08 USD");
        assert!(r.has("<svg class=\"chart\"") && r.has("role=\"img\"") && r.has("<title id=\"c-t\">Turnover per day, USD</title>"));
        assert!(r.has("<td>USDT_TRC20</td><td class=\"num\">1</td><td class=\"num\">1</td><td class=\"num\">50.00 USD</td>"), "{}", r.body);
        // Per project the page says what the API says, status by status.
        for shop in [&a, &b] {
            let api = shop.post("/v2/invoice/merchant/statistics", json!({"start": T0_DAY, "end": T0_DAY})).await.success();
            let page = s.get(&format!("/statistics?period=today&mode=all&project={}", shop.id)).await;
            let rows = by_status(&page);
            for (i, key) in ["all", "created", "paid", "overpaid", "partial", "canceled"].iter().enumerate() {
                assert_eq!(rows[i].1, api["count"][key].as_i64().unwrap(), "{key} count");
                let amount: f64 = rows[i].2.trim_end_matches(" USD").replace(',', "").parse().unwrap();
                assert_eq!(amount, api["amount"][key].as_f64().unwrap(), "{key} amount");
            }
        }
        // Live only by default: nothing yet.
        let r = s.get("/statistics").await;
        assert_eq!(figure(&r, "s-turnover"), "0.00 USD");
        assert_eq!(figure(&r, "s-conversion"), "—");
        // A custom period that ends before it starts is explained next to the field.
        let r = s.get("/statistics?period=custom&from=2025-03-10&to=2025-03-01").await;
        assert!(r.has("id=\"e-to\""));
        // The home page: turnover cards and a chart (live money only), the navigation in the
        // order merchants know.
        let home = s.get("/dashboard").await;
        assert_eq!(figure(&home, "d-today"), "0.00 USD");
        assert!(home.has("<svg class=\"chart small\""));
        let nav = &home.body[home.body.find("class=\"mainnav\"").unwrap()..];
        let order: Vec<usize> = ["/payments\"", "/statistics\"", "/projects\"", "/staff\"", "/activity\""].iter().map(|h| nav.find(h).unwrap()).collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "navigation order");
    }
);

engine_test!(
    async fn the_home_page_lists_live_payments_and_what_needs_attention(engine) {
        let app = TestApp::spawn(engine).await;
        app.clock.set(T0);
        let a = shop(&app, "o@shop.example", "").await;
        a.go_live(&app).await;
        let merchant = {
            let mut c = app.state.db.conn().await.unwrap();
            kassa_store::projects::by_id(&mut c, a.id).await.unwrap().merchant_id
        };
        let _ = merchant;
        // A live invoice (as the network layer makes it), partly paid and confirmed.
        let address = "TLa2f6VPqDgRE67v1736s7bJ8Ray5wYjU7";
        let row = live_invoice(&app, a.id, "USDT_TRC20", "100", address).await;
        let usdt = kassa_core::currency::crypto("USDT_TRC20").unwrap();
        kassa_service::payments::record_transfer(
            &app.state,
            &kassa_service::payments::TransferReport {
                network: usdt.network,
                txid: "aa",
                index: 0,
                address,
                amount: kassa_core::Amount::parse("60", 6).unwrap(),
                currency: usdt,
                confirmed: true,
                confirmations: 20,
                test: false,
            },
        )
        .await
        .unwrap();
        let s = sign_in(&app, "o@shop.example").await;
        let home = s.get("/dashboard").await;
        assert!(home.has(&format!("<code>INV-{}</code>", row.uuid)), "latest payments: {}", home.body);
        assert!(home.has("1 partly paid invoice waiting for your decision"), "{}", home.body);
        assert!(home.has("href=\"/payments?status=partial\""));
        // A viewer without payments sees the account cards only.
        crate::support::accounts::staff(&app, a.owner, "dev@shop.example", Role::Developer).await;
        let d = sign_in(&app, "dev@shop.example").await;
        assert!(d.get("/dashboard").await.status == StatusCode::OK);
    }
);

engine_test!(
    async fn the_home_page_names_postbacks_the_shop_did_not_accept(engine) {
        let app = TestApp::spawn(engine).await;
        app.clock.set(T0);
        let receiver = crate::support::receiver::Receiver::answering(&[500]).await;
        let a = shop(&app, "o@shop.example", &receiver.url).await;
        let inv = a.create(10.0, json!({"add_fields": {"cryptocurrency": "USDT_TRC20"}})).await;
        a.pay_ok(&uuid(&inv), json!({"amount": "10"})).await;
        app.drain_jobs().await;
        assert_eq!(receiver.hits().len(), 1);
        let s = sign_in(&app, "o@shop.example").await;
        let home = s.get("/dashboard").await;
        assert!(home.has("Postbacks failing for 1 invoice (the shop"), "{}", home.body);
        assert!(home.has(&format!("/invoices/{}#postbacks", uuid(&inv).trim_start_matches("INV-"))), "{}", home.body);
        assert!(home.has("HTTP 500") && home.has("attempt 1"));
        // The retry is accepted: nothing needs attention any more.
        app.clock.advance(std::time::Duration::from_secs(120));
        app.drain_jobs().await;
        assert_eq!(receiver.hits().len(), 2);
        let home = s.get("/dashboard").await;
        assert!(!home.has("Postbacks failing"), "{}", home.body);
    }
);
