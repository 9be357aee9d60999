//! Helpers for the merchant API tests: a shop (project + keys) with a client bound to its API
//! key, a checker for the exact shape of response objects (keys and JSON types, recursively),
//! format checks for the contract's strings, and live invoices made through the store.
//!
//! The shapes below are written from the contract (`shared/spec/cryptocloud-api-v2.md`), not
//! from the server's code.

use std::time::Duration;

use kassa_core::invoice::{Quote, QuoteInput, Side, Tolerance};
use kassa_core::{ProjectId, Timestamp, UserId, currency};
use kassa_store::invoices::{self as store, InvoiceRow, NewInvoice, Owner};
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::TestApp;
use super::accounts;

/// 2025-03-10 12:00:00.123456 UTC: the instant API tests start at (not a whole second, so the
/// six microsecond digits are visible).
pub const T0: Timestamp = Timestamp::from_micros(1_741_608_000_123_456);
/// `T0` as the API writes it.
pub const T0_TEXT: &str = "2025-03-10 12:00:00.123456";
/// The day of `T0` as request dates write it.
pub const T0_DAY: &str = "10.03.2025";

/// A project with its keys and a client that sends its API key.
pub struct Shop {
    /// Server root.
    pub base: String,
    /// Project id.
    pub id: ProjectId,
    /// Public shop id.
    pub shop_id: String,
    /// API key.
    pub key: String,
    /// Postback secret.
    pub secret: String,
    /// The owner who created it.
    pub owner: UserId,
    client: reqwest::Client,
}

/// A response: status and body parsed as JSON (the raw text when it is not JSON).
#[derive(Debug)]
pub struct Reply {
    /// HTTP status.
    pub status: StatusCode,
    /// Parsed body (`Value::String(raw)` when the body is not JSON).
    pub body: Value,
}

impl Reply {
    async fn of(r: reqwest::Response) -> Reply {
        let status = r.status();
        let text = r.text().await.expect("response body");
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Reply { status, body }
    }

    /// Asserts 200 `{"status":"success","result": …}` (exactly these keys) and returns `result`.
    pub fn success(self) -> Value {
        assert_eq!(self.status, StatusCode::OK, "expected 200, got {self:?}");
        let obj = self.body.as_object().expect("object body");
        assert_eq!(
            obj.keys().map(String::as_str).collect::<Vec<_>>(),
            ["result", "status"],
            "envelope keys of {}",
            self.body
        );
        assert_eq!(obj["status"], "success", "{}", self.body);
        obj["result"].clone()
    }

    /// Asserts 400 with exactly `{"status":"error","result":{field: message}}`.
    pub fn assert_field_error(&self, field: &str, message: &str) {
        assert_eq!(self.status, StatusCode::BAD_REQUEST, "{self:?}");
        assert_eq!(
            self.body,
            json!({"status": "error", "result": {field: message}}),
            "error envelope"
        );
    }

    /// Asserts 400 with `{"status":"error","result":{field: <message>}}` and returns the message.
    pub fn field_error(&self, field: &str) -> String {
        assert_eq!(self.status, StatusCode::BAD_REQUEST, "{self:?}");
        let obj = self.body.as_object().expect("object body");
        assert_eq!(
            obj.keys().map(String::as_str).collect::<Vec<_>>(),
            ["result", "status"],
            "envelope keys of {}",
            self.body
        );
        assert_eq!(obj["status"], "error", "{}", self.body);
        let result = obj["result"].as_object().expect("result object");
        assert_eq!(
            result.keys().map(String::as_str).collect::<Vec<_>>(),
            [field],
            "error keys of {}",
            self.body
        );
        result[field]
            .as_str()
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| panic!("error message of {field} in {}", self.body))
            .to_owned()
    }

    /// Asserts the native helper error `{"error":{"code": code,"message": <text>}}`.
    pub fn assert_helper_error(&self, status: StatusCode, code: &str) {
        assert_eq!(self.status, status, "{self:?}");
        assert_shape(
            &self.body,
            &json!({"error": {"code": "string", "message": "string"}}),
        );
        assert_eq!(self.body["error"]["code"], code, "{}", self.body);
    }
}

/// Creates an owner and a test-mode project "Shop" with `notify_url`.
pub async fn shop(app: &TestApp, email: &str, notify_url: &str) -> Shop {
    let owner = accounts::owner(app, email).await;
    shop_of(app, owner, notify_url).await
}

/// A test-mode project "Shop" of a new owner, with settings changed by `adjust`.
pub async fn shop_with_settings(
    app: &TestApp,
    email: &str,
    adjust: impl FnOnce(&mut kassa_store::projects::ProjectSettings),
) -> Shop {
    let owner = accounts::owner(app, email).await;
    let created = accounts::project_with_settings(app, owner, "Shop", adjust).await;
    Shop {
        base: app.base.clone(),
        id: created.id,
        shop_id: created.shop_id,
        key: created.api_key,
        secret: created.secret_key,
        owner,
        client: app.client.clone(),
    }
}

/// Another test-mode project of `owner`.
pub async fn shop_of(app: &TestApp, owner: UserId, notify_url: &str) -> Shop {
    let created = accounts::project_with_keys(app, owner, "Shop", notify_url).await;
    Shop {
        base: app.base.clone(),
        id: created.id,
        shop_id: created.shop_id,
        key: created.api_key,
        secret: created.secret_key,
        owner,
        client: app.client.clone(),
    }
}

impl Shop {
    /// `POST path` with a JSON body and the shop's key.
    pub async fn post(&self, path: &str, body: Value) -> Reply {
        let r = self
            .client
            .post(format!("{}{path}", self.base))
            .header("Authorization", format!("Token {}", self.key))
            .json(&body)
            .send()
            .await
            .expect("POST");
        Reply::of(r).await
    }

    /// `POST path` with a form body (already encoded) and the shop's key.
    pub async fn post_form(&self, path: &str, form: &str) -> Reply {
        let r = self
            .client
            .post(format!("{}{path}", self.base))
            .header("Authorization", format!("Token {}", self.key))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form.to_owned())
            .send()
            .await
            .expect("POST form");
        Reply::of(r).await
    }

    /// `GET path` with the shop's key.
    pub async fn get(&self, path: &str) -> Reply {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .header("Authorization", format!("Token {}", self.key))
            .send()
            .await
            .expect("GET");
        Reply::of(r).await
    }

    /// Creates an invoice of `amount` USD with `extra` fields merged in; returns `result`.
    pub async fn create(&self, amount: f64, extra: Value) -> Value {
        let mut body = json!({"shop_id": self.shop_id, "amount": amount});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                b.insert(k.clone(), v.clone());
            }
        }
        self.post("/v2/invoice/create", body).await.success()
    }

    /// The invoice objects for `uuids` from `info`.
    pub async fn info(&self, uuids: &[&str]) -> Vec<Value> {
        let r = self
            .post("/v2/invoice/merchant/info", json!({"uuids": uuids}))
            .await
            .success();
        r.as_array().expect("info result is an array").clone()
    }

    /// One invoice object from `info`.
    pub async fn invoice(&self, uuid: &str) -> Value {
        let mut all = self.info(&[uuid]).await;
        assert_eq!(all.len(), 1, "info of {uuid}: {all:?}");
        all.remove(0)
    }

    /// Simulates a payment through the native test helper; returns the raw reply.
    pub async fn pay(&self, uuid: &str, body: Value) -> Reply {
        self.post(&format!("/api/v1/test-helpers/invoices/{uuid}/pay"), body)
            .await
    }

    /// Pays `amount` (decimal text) of a test invoice, confirmed; returns the invoice object.
    pub async fn pay_ok(&self, uuid: &str, body: Value) -> Value {
        self.pay(uuid, body).await.success()
    }

    /// Switches the project to live mode, as one that went live while the operator had a
    /// network configured (the simulated live invoices of these tests need no node).
    pub async fn go_live(&self, app: &TestApp) {
        let mut c = app.state.db.write().await.expect("conn");
        kassa_store::projects::set_test_mode(&mut c, self.id, false, app.now())
            .await
            .expect("go live");
    }

    /// The project as stored.
    pub async fn row(&self, app: &TestApp) -> kassa_store::projects::ProjectRow {
        let mut c = app.state.db.conn().await.expect("conn");
        kassa_store::projects::by_id(&mut c, self.id)
            .await
            .expect("project")
    }
}

/// The stored invoice with public id `uuid` (with or without `INV-`).
pub async fn stored_invoice(app: &TestApp, uuid: &str) -> InvoiceRow {
    let bare = uuid.strip_prefix("INV-").unwrap_or(uuid);
    let mut c = app.state.db.conn().await.expect("conn");
    store::by_uuid(&mut c, bare)
        .await
        .expect("query")
        .unwrap_or_else(|| panic!("no invoice {uuid}"))
}

// ---------------------------------------------------------------------------------------------
// Shapes
// ---------------------------------------------------------------------------------------------

/// Asserts that `v` has exactly the shape `shape`:
///
/// - a string names the allowed JSON types, `|`-separated: `string`, `int` (a number written
///   without fraction), `float` (written with a fraction or exponent, e.g. `100.0`), `number`,
///   `bool`, `null`, `array`, `object`;
/// - an object requires exactly its keys (no more, no fewer), each with its own shape;
/// - a one-element array requires an array whose every item has that element's shape.
///
/// A failure names the path of the offending key, e.g. `$.currency.network.id`.
pub fn assert_shape(v: &Value, shape: &Value) {
    check("$", v, shape);
}

fn check(path: &str, v: &Value, shape: &Value) {
    match shape {
        Value::String(types) => {
            let ok = types.split('|').any(|t| type_is(t, v));
            assert!(ok, "{path}: expected {types}, got {v}");
        }
        Value::Object(fields) => {
            let Some(obj) = v.as_object() else {
                panic!("{path}: expected an object, got {v}");
            };
            let missing: Vec<&String> = fields.keys().filter(|k| !obj.contains_key(*k)).collect();
            let extra: Vec<&String> = obj.keys().filter(|k| !fields.contains_key(*k)).collect();
            assert!(
                missing.is_empty() && extra.is_empty(),
                "{path}: missing keys {missing:?}, unexpected keys {extra:?} in {v}"
            );
            for (k, s) in fields {
                check(&format!("{path}.{k}"), &obj[k], s);
            }
        }
        Value::Array(item) => {
            assert_eq!(item.len(), 1, "shape arrays have one element");
            let Some(items) = v.as_array() else {
                panic!("{path}: expected an array, got {v}");
            };
            for (i, x) in items.iter().enumerate() {
                check(&format!("{path}[{i}]"), x, &item[0]);
            }
        }
        other => panic!("bad shape {other}"),
    }
}

fn type_is(t: &str, v: &Value) -> bool {
    match t {
        "string" => v.is_string(),
        "int" => v.is_i64() || v.is_u64(),
        "float" => v.is_f64(),
        "number" => v.is_number(),
        "bool" => v.is_boolean(),
        "null" => v.is_null(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        other => panic!("unknown type {other} in a shape"),
    }
}

/// `network` / `obj_network`.
pub fn network_shape() -> Value {
    json!({"code": "string", "id": "int", "icon": "string", "fullname": "string"})
}

/// The invoice currency object (section 6).
pub fn invoice_currency_shape() -> Value {
    json!({
        "id": "int", "code": "string", "fullcode": "string", "network": network_shape(),
        "name": "string", "is_email_required": "bool", "stablecoin": "bool",
        "icon_base": "string", "icon_network": "string", "icon_qr": "string", "order": "int",
    })
}

/// The balance-style currency object (section 6).
pub fn balance_currency_shape() -> Value {
    json!({
        "id": "int", "code": "string", "short_code": "string", "name": "string",
        "is_email_required": "bool", "stablecoin": "bool",
        "icon_base": "string", "icon_network": "string", "icon_qr": "string", "order": "int",
        "obj_network": network_shape(), "enable": "bool", "enabled": "bool",
    })
}

/// The project object.
pub fn project_shape() -> Value {
    json!({"id": "int", "name": "string", "fail": "string", "success": "string", "logo": "string|null"})
}

/// The create-invoice `result` (section 1).
pub fn created_shape() -> Value {
    json!({
        "uuid": "string", "created": "string", "address": "string", "expiry_date": "string",
        "side_commission": "string", "side_commission_cc": "string",
        "side_commission_service": "string", "type_payments": "string",
        "amount": "float", "amount_usd": "float", "amount_in_fiat": "float",
        "fee": "float", "fee_usd": "float", "service_fee": "float", "service_fee_usd": "float",
        "fiat_currency": "string", "status": "string", "is_email_required": "bool",
        "link": "string", "invoice_id": "null",
        "currency": invoice_currency_shape(), "project": project_shape(), "test_mode": "bool",
    })
}

/// The invoice object of list and info (section 3).
pub fn invoice_shape() -> Value {
    json!({
        "uuid": "string", "created": "string", "address": "string",
        "currency": invoice_currency_shape(), "date_finished": "string|null",
        "expiry_date": "string", "side_commission": "string", "side_commission_cc": "string",
        "amount": "float", "amount_in_crypto": "float|null", "amount_usd": "float",
        "amount_in_fiat": "float", "amount_to_pay": "float", "amount_to_pay_usd": "float",
        "amount_paid": "float", "amount_paid_usd": "float",
        "fee": "float", "fee_usd": "float", "service_fee": "float", "service_fee_usd": "float",
        "received": "float", "received_usd": "float",
        "to_surcharge": "float", "to_surcharge_usd": "float",
        "type_payments": "string", "fiat_currency": "string", "status": "string",
        "invoice_status": "string", "order_id": "string", "pay_url": "string", "link": "string",
        "user_email": "string|null", "tx_list": ["string"], "is_email_required": "bool",
        "invoice_id": "null", "project": project_shape(), "test_mode": "bool",
    })
}

/// Statistics `result` (section 5).
pub fn statistics_shape() -> Value {
    let count = json!({"all": "int", "created": "int", "paid": "int", "overpaid": "int", "partial": "int", "canceled": "int"});
    let amount = json!({"all": "float", "created": "float", "paid": "float", "overpaid": "float", "partial": "float", "canceled": "float"});
    json!({"count": count, "amount": amount})
}

/// One balance entry (section 7).
pub fn balance_shape() -> Value {
    json!({
        "currency": balance_currency_shape(), "balance_crypto": "float", "balance_usd": "float",
        "available_balance": "float", "available_balance_usd": "float",
    })
}

/// The static wallet `result` (section 8).
pub fn static_wallet_shape() -> Value {
    json!({"currency": balance_currency_shape(), "address": "string", "uuid": "string"})
}

// ---------------------------------------------------------------------------------------------
// Formats
// ---------------------------------------------------------------------------------------------

fn all_of(s: &str, ok: impl Fn(char) -> bool) -> bool {
    s.chars().all(ok)
}

fn upper_alnum(c: char) -> bool {
    c.is_ascii_uppercase() || c.is_ascii_digit()
}

/// `YYYY-MM-DD HH:MM:SS.ffffff`.
pub fn assert_datetime(what: &str, v: &Value) {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("{what}: not a string: {v}"));
    let ok = s.len() == 26
        && s.char_indices().all(|(i, c)| match i {
            4 | 7 => c == '-',
            10 => c == ' ',
            13 | 16 => c == ':',
            19 => c == '.',
            _ => c.is_ascii_digit(),
        });
    assert!(ok, "{what}: {s:?} is not YYYY-MM-DD HH:MM:SS.ffffff");
}

/// `INV-` + 8 of `A-Z0-9`; returns the 8 characters.
pub fn assert_invoice_uuid(v: &Value) -> String {
    let s = v.as_str().unwrap_or_else(|| panic!("uuid {v}"));
    let bare = s
        .strip_prefix("INV-")
        .unwrap_or_else(|| panic!("{s:?} lacks INV-"));
    assert!(
        bare.len() == 8 && all_of(bare, upper_alnum),
        "{s:?} is not INV- + 8 of A-Z0-9"
    );
    bare.to_owned()
}

/// `<base>/pay/<8 of A-Z0-9>` for the invoice `bare`.
pub fn assert_link(base: &str, v: &Value, bare: &str) {
    assert_eq!(
        v.as_str(),
        Some(format!("{base}/pay/{bare}").as_str()),
        "link"
    );
}

/// 16 of `A-Za-z0-9`.
pub fn assert_shop_id(s: &str) {
    assert!(
        s.len() == 16 && all_of(s, |c| c.is_ascii_alphanumeric()),
        "shop id {s:?}"
    );
}

/// 32 of `A-Z0-9`.
pub fn assert_static_wallet_uuid(v: &Value) {
    let s = v.as_str().unwrap_or_else(|| panic!("uuid {v}"));
    assert!(
        s.len() == 32 && all_of(s, upper_alnum),
        "static wallet uuid {s:?}"
    );
}

const BASE58: &str = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

/// A deposit address in the format of `network` (test mode: testnet formats where the network
/// has one).
pub fn assert_address(network: &str, v: &Value) {
    let a = v
        .as_str()
        .unwrap_or_else(|| panic!("address of {network}: {v}"));
    let base58 = |s: &str| all_of(s, |c| BASE58.contains(c));
    let lower_alnum = |s: &str| all_of(s, |c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let ok = match network {
        "TRC20" => a.len() == 34 && a.starts_with('T') && base58(a),
        "BTC" => a.len() == 42 && a.starts_with("tb1q") && lower_alnum(a),
        "LTC" => a.len() == 44 && a.starts_with("tltc1q") && lower_alnum(a),
        "ERC20" | "BSC" | "ARB" | "OPT" | "BASE" => {
            a.len() == 42 && a.starts_with("0x") && all_of(&a[2..], |c| c.is_ascii_hexdigit())
        }
        "SOL" => (32..=44).contains(&a.len()) && base58(a),
        "TON" => {
            a.len() == 48
                && a.starts_with("0Q")
                && all_of(a, |c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        }
        other => panic!("no address format for {other}"),
    };
    assert!(ok, "{a:?} is not a {network} address");
}

/// The floating value of `v` (panics naming `what` if it is not a number).
pub fn num(what: &str, v: &Value) -> f64 {
    v.as_f64()
        .unwrap_or_else(|| panic!("{what}: not a number: {v}"))
}

/// Whether two amounts agree to 1e-9.
pub fn assert_amount(what: &str, v: &Value, expected: f64) {
    let got = num(what, v);
    assert!(
        (got - expected).abs() < 1e-9,
        "{what}: expected {expected}, got {got}"
    );
}

/// A live invoice as the network layer will make it: quote locked at 1 USD per unit with the
/// default fees, a live deposit address. (No live network is configured in this build, so it
/// is set up through the store; everything after is the production path.)
pub async fn live_invoice(
    app: &TestApp,
    project: ProjectId,
    code: &str,
    price_usd: &str,
    address: &str,
) -> InvoiceRow {
    let c = currency::crypto(code).expect("crypto");
    let merchant = {
        let mut conn = app.state.db.conn().await.expect("conn");
        kassa_store::projects::by_id(&mut conn, project)
            .await
            .expect("project")
            .merchant_id
    };
    let now = app.now();
    let quote = Quote::compute(&QuoteInput {
        price: kassa_core::invoice::Priced::Fiat {
            amount: price_usd.parse().expect("price"),
            usd: kassa_core::Decimal::ONE,
        },
        crypto_usd: "1".parse().expect("rate"),
        decimals: c.decimals,
        service_percent: "1.9".parse().expect("percent"),
        transfer_fee_usd: "1.4".parse().expect("fee"),
        service_side: Side::Merchant,
        transfer_side: Side::Merchant,
        tolerance: Tolerance::None,
        minimum: Some(c.min_payment()),
    })
    .expect("quote");
    let uuid = kassa_service::invoices::new_uuid();
    let mut tx = app.state.db.begin().await.expect("tx");
    let id = store::insert(
        &mut tx,
        &NewInvoice {
            uuid: &uuid,
            project_id: project,
            merchant_id: merchant,
            test: false,
            price: kassa_core::invoice::Price::Fiat(
                kassa_core::currency::fiat("USD").expect("USD"),
                price_usd.parse().expect("price"),
            ),
            amount_usd: price_usd.parse().expect("price"),
            allowed_currencies: &[],
            service_fee_side: Side::Merchant,
            transfer_fee_side: Side::Merchant,
            tolerance: Tolerance::None,
            order_id: "live",
            email: "",
            description: "",
            locale: Some(kassa_core::lang::Lang::En),
            static_wallet_id: None,
            expires_at: now.saturating_add(Duration::from_secs(3600)),
            locked: Some(store::LockedQuote {
                currency: c.code,
                address,
                quote,
                rate_usd: kassa_core::Decimal::ONE,
                rate_source: "fixed",
            }),
        },
        now,
    )
    .await
    .expect("insert invoice")
    .id;
    let index = store::next_derivation_index(&mut tx).await.expect("index");
    store::insert_address(
        &mut tx,
        c.network.code,
        address,
        index,
        false,
        Owner::Invoice(id),
        now,
    )
    .await
    .expect("address");
    tx.commit().await.expect("commit");
    let mut c = app.state.db.conn().await.expect("conn");
    store::by_id(&mut c, id).await.expect("invoice")
}
