use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode};

use super::*;

fn sat(units: u128) -> Result<Amount, AmountError> {
    Ok(Amount::from_base(units))
}

#[test]
fn amounts_are_exact() {
    let cases = [
        ("0.1", sat(10_000_000)),
        ("0.10000000", sat(10_000_000)),
        ("1.23456789", sat(123_456_789)),
        ("20999999.99999999", sat(2_099_999_999_999_999)),
        ("21000000", sat(2_100_000_000_000_000)),
        ("84000000.00000000", sat(8_400_000_000_000_000)),
        ("0.00000001", sat(1)),
        ("1e-8", sat(1)),
        ("1e-08", sat(1)),
        ("1E-8", sat(1)),
        ("1.0e-8", sat(1)),
        ("10e-9", sat(1)),
        ("1.5e2", sat(15_000_000_000)),
        ("2.1E+7", sat(2_100_000_000_000_000)),
        ("0.0001", sat(10_000)),
        ("1.23456789000", sat(123_456_789)),
        ("0", sat(0)),
        ("0.0", sat(0)),
        ("0e-99999999999", sat(0)),
        ("0.00000000", sat(0)),
        // f64 would give 0.30000000000000004 for 0.1 + 0.2; sums of exact units do not.
        ("0.3", sat(30_000_000)),
        (" 1.5 ", sat(150_000_000)),
        // Refused.
        ("1e-9", Err(AmountError::TooPrecise)),
        ("0.000000001", Err(AmountError::TooPrecise)),
        ("1.234567891", Err(AmountError::TooPrecise)),
        ("5e-99999999999", Err(AmountError::TooPrecise)),
        ("-0.1", Err(AmountError::Negative)),
        ("\"0.1\"", Err(AmountError::NotANumber)),
        ("null", Err(AmountError::NotANumber)),
        ("1.", Err(AmountError::NotANumber)),
        (".5", Err(AmountError::NotANumber)),
        ("1e", Err(AmountError::NotANumber)),
        ("1e+", Err(AmountError::NotANumber)),
        ("", Err(AmountError::NotANumber)),
        ("1,5", Err(AmountError::NotANumber)),
        ("1e99999999999", Err(AmountError::TooLarge)),
        ("1e40", Err(AmountError::TooLarge)),
        (
            "123456789012345678901234567890123456789012",
            Err(AmountError::TooLarge),
        ),
    ];
    for (text, want) in cases {
        assert_eq!(parse_json_amount(text, DECIMALS), want, "{text:?}");
    }
    // Other precisions.
    assert_eq!(parse_json_amount("1.5", 2), sat(150));
    assert_eq!(parse_json_amount("1.505", 2), Err(AmountError::TooPrecise));
    assert_eq!(parse_json_amount("12", 0), sat(12));
    // Every amount of 8 decimals survives printing and reading.
    for units in [1u128, 7, 99_999_999, 100_000_000, 2_099_999_999_999_999] {
        let text = Amount::from_base(units).to_decimal_string(8);
        assert_eq!(parse_json_amount(&text, 8), sat(units), "{text}");
    }
}

#[test]
fn amounts_deserialize_from_json_text() {
    #[derive(Deserialize)]
    struct Out {
        #[serde(deserialize_with = "amount")]
        value: Amount,
        #[serde(default, deserialize_with = "optional_amount")]
        fee: Option<Amount>,
    }
    let out: Out = serde_json::from_str(r#"{"value": 20999999.99999999, "fee": 1e-05}"#).unwrap();
    assert_eq!(out.value, Amount::from_base(2_099_999_999_999_999));
    assert_eq!(out.fee, Some(Amount::from_base(1_000)));
    // Where the f64 route loses a unit: 0.29 × 1e8 is 28999999.999999996 in binary.
    let out: Out = serde_json::from_str(r#"{"value": 0.29}"#).unwrap();
    assert_eq!(out.value, Amount::from_base(29_000_000));
    let float: f64 = serde_json::from_str("0.29").unwrap();
    assert_eq!((float * 1e8) as u128, 28_999_999);
    let out: Out = serde_json::from_str(r#"{"value": 0.1, "fee": null}"#).unwrap();
    assert_eq!(out.fee, None);
    let out: Out = serde_json::from_str(r#"{"value": 0.1}"#).unwrap();
    assert_eq!(out.fee, None);
    let err = serde_json::from_str::<Out>(r#"{"value": "0.1"}"#)
        .err()
        .unwrap();
    assert!(err.to_string().contains("not a number"), "{err}");
    assert!(serde_json::from_str::<Out>(r#"{"value": -1}"#).is_err());
}

/// A block as Litecoin Core 0.21 prints it (`addresses[]`, `ismweb`, `reqSigs`), trimmed.
const LTC_BLOCK: &str = r#"{
  "hash": "5d1a2f6c2bd4b1d4c1e4d06c0f1b4bd0d5f1ec1f6fd2c1a1d8cd3cbb4e9c6a11",
  "confirmations": 1, "strippedsize": 300, "size": 400, "weight": 1300, "height": 102,
  "version": 536870912, "versionHex": "20000000",
  "merkleroot": "9c2b0a3d1c1e1f0e0d0c0b0a09080706050403020100ffeeddccbbaa99887766",
  "tx": [
    {"txid": "aa01", "hash": "aa01w", "version": 2, "size": 100, "vsize": 100, "weight": 400,
     "locktime": 0,
     "vin": [{"coinbase": "016600", "sequence": 4294967295}],
     "vout": [
       {"value": 50.00003760, "n": 0, "ismweb": false,
        "scriptPubKey": {"asm": "0 c0cebcd6", "hex": "0014c0cebcd6c3d3ca8c75dc5ec62ebe55330ef910e2",
          "reqSigs": 1, "type": "witness_v0_keyhash",
          "addresses": ["rltc1q-coinbase"]}},
       {"value": 0.00000000, "n": 1, "ismweb": false,
        "scriptPubKey": {"asm": "OP_RETURN aa21a9ed", "hex": "6a24aa21a9ed", "type": "nulldata"}}
     ], "hex": "02000000"},
    {"txid": "bb02", "hash": "bb02w", "version": 2, "size": 222, "vsize": 141, "weight": 561,
     "locktime": 101,
     "vin": [{"txid": "cc03", "vout": 0, "scriptSig": {"asm": "", "hex": ""},
              "txinwitness": ["3044", "02aa"], "sequence": 4294967293, "ismweb": false}],
     "vout": [
       {"value": 1.23456789, "n": 0, "ismweb": false,
        "scriptPubKey": {"asm": "0 b4", "hex": "0014b4", "reqSigs": 1, "type": "witness_v0_keyhash",
          "addresses": ["rltc1qkassa"]}},
       {"value": 20999999.99999999, "n": 1, "ismweb": false,
        "scriptPubKey": {"asm": "0 c5", "hex": "0014c5", "reqSigs": 1, "type": "witness_v0_keyhash",
          "addresses": ["rltc1qchange"]}}
     ], "hex": "02000000"}
  ],
  "time": 1764000000, "mediantime": 1763999999, "nonce": 1, "bits": "207fffff",
  "difficulty": 4.656542373906925e-10, "chainwork": "00cc", "nTx": 2,
  "previousblockhash": "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"
}"#;

/// The same shapes as Bitcoin Core 22+ prints them (`address`, no `ismweb`).
const BTC_TX: &str = r#"{
  "txid": "dd04", "hash": "dd04w", "version": 2, "size": 222, "vsize": 141, "weight": 561,
  "locktime": 0, "hex": "0200",
  "vin": [{"txid": "ee05", "vout": 3, "scriptSig": {"asm": "", "hex": ""}, "sequence": 4294967295}],
  "vout": [{"value": 0.1, "n": 0, "scriptPubKey": {"asm": "0 c0", "desc": "addr(bcrt1q)#x",
    "hex": "0014c0", "address": "bcrt1q-payment", "type": "witness_v0_keyhash"}}],
  "blockhash": "0a0b", "confirmations": 3, "time": 1764000000, "blocktime": 1764000000
}"#;

#[test]
fn litecoin_blocks_parse_exactly() {
    let block: Block = serde_json::from_str(LTC_BLOCK).unwrap();
    assert_eq!(block.height, 102);
    assert_eq!(
        block.previousblockhash.as_deref(),
        Some("0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0")
    );
    assert_eq!(block.tx.len(), 2);
    let coinbase = &block.tx[0];
    assert_eq!(coinbase.vin[0].previous_output(), None);
    assert_eq!(coinbase.vout[0].value, Amount::from_base(5_000_003_760));
    assert_eq!(
        coinbase.vout[0].script_pub_key.single_address(),
        Some("rltc1q-coinbase")
    );
    assert_eq!(coinbase.vout[1].script_pub_key.single_address(), None);
    assert_eq!(coinbase.vout[1].script_pub_key.kind, "nulldata");
    let payment = &block.tx[1];
    assert_eq!(payment.txid, "bb02");
    assert_eq!(payment.vin[0].previous_output(), Some(("cc03", 0)));
    assert_eq!(payment.vin[0].sequence, 0xffff_fffd);
    assert_eq!(payment.vout[0].value, Amount::from_base(123_456_789));
    assert_eq!(payment.vout[1].n, 1);
    assert_eq!(
        payment.vout[1].value,
        Amount::from_base(2_099_999_999_999_999)
    );
}

#[test]
fn bitcoin_core_single_address_field() {
    let tx: RawTransaction = serde_json::from_str(BTC_TX).unwrap();
    assert_eq!(tx.confirmations, Some(3));
    assert_eq!(tx.vout[0].value, Amount::from_base(10_000_000));
    assert_eq!(
        tx.vout[0].script_pub_key.single_address(),
        Some("bcrt1q-payment")
    );
}

// --- A fake node over HTTP --------------------------------------------------------------

type Reply = Arc<dyn Fn(&Value) -> (StatusCode, String) + Send + Sync>;
/// The requests a fake node saw: the `Authorization` header and the JSON body.
type Seen = Arc<Mutex<Vec<(Option<String>, Value)>>>;

struct FakeNode {
    url: String,
    seen: Seen,
}

async fn fake_node(reply: Reply) -> FakeNode {
    let seen: Seen = Arc::default();
    let log = seen.clone();
    let app = axum::Router::new().fallback(axum::routing::post(
        move |headers: HeaderMap, body: String| {
            let reply = reply.clone();
            let log = log.clone();
            async move {
                let request: Value = serde_json::from_str(&body).unwrap();
                let auth = headers
                    .get("authorization")
                    .map(|v| v.to_str().unwrap().to_owned());
                log.lock().unwrap().push((auth, request.clone()));
                if request["method"] == "sleep" {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                }
                reply(&request)
            }
        },
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    FakeNode { url, seen }
}

fn ok(request: &Value, result: &str) -> (StatusCode, String) {
    (
        StatusCode::OK,
        format!(
            r#"{{"result":{result},"error":null,"id":{}}}"#,
            request["id"]
        ),
    )
}

fn client(url: &str) -> RpcClient {
    RpcClient::with_timeout(
        url,
        "kassa",
        SecretString::new("s3cret"),
        Duration::from_millis(500),
    )
    .unwrap()
}

#[tokio::test]
async fn typed_calls_send_auth_and_parse_answers() {
    let node = fake_node(Arc::new(|request: &Value| {
        let method = request["method"].as_str().unwrap();
        match method {
            "getblockcount" => ok(request, "102"),
            "getbestblockhash" | "getblockhash" => ok(request, r#""00ff""#),
            "getblock" => ok(request, LTC_BLOCK),
            "getrawtransaction" => ok(request, BTC_TX),
            "getrawmempool" => ok(request, r#"["bb02","dd04"]"#),
            "getblockchaininfo" => ok(
                request,
                r#"{"chain":"regtest","blocks":102,"headers":102,"bestblockhash":"00ff",
                    "difficulty":4.6e-10,"verificationprogress":1,"initialblockdownload":false,
                    "pruned":false,"warnings":""}"#,
            ),
            "estimatesmartfee" => ok(request, r#"{"feerate":0.00010000,"blocks":2}"#),
            "validateaddress" => ok(
                request,
                r#"{"isvalid":true,"address":"rltc1q","scriptPubKey":"0014c0","isscript":false,
                    "iswitness":true,"witness_version":0,"witness_program":"c0"}"#,
            ),
            "getdescriptorinfo" => ok(
                request,
                r#"{"descriptor":"wpkh(tpub/0/*)#abcd","checksum":"abcd","isrange":true,
                    "issolvable":true,"hasprivatekeys":false}"#,
            ),
            "deriveaddresses" => ok(request, r#"["a","b"]"#),
            "sendrawtransaction" => ok(request, r#""dd04""#),
            "nothing" => ok(request, "null"),
            _ => (StatusCode::NOT_FOUND, format!(
                r#"{{"result":null,"error":{{"code":-32601,"message":"Method not found"}},"id":{}}}"#,
                request["id"]
            )),
        }
    }))
    .await;
    let rpc = client(&node.url);
    assert_eq!(rpc.get_block_count().await.unwrap(), 102);
    assert_eq!(rpc.get_best_block_hash().await.unwrap(), "00ff");
    assert_eq!(rpc.get_block_hash(7).await.unwrap(), "00ff");
    let block = rpc.get_block("00ff").await.unwrap();
    assert_eq!(
        block.tx[1].vout[1].value,
        Amount::from_base(2_099_999_999_999_999)
    );
    assert_eq!(rpc.get_raw_mempool().await.unwrap(), ["bb02", "dd04"]);
    let tx = rpc.get_raw_transaction("dd04", None).await.unwrap();
    assert_eq!(tx.vin[0].previous_output(), Some(("ee05", 3)));
    let info = rpc.get_blockchain_info().await.unwrap();
    assert_eq!((info.chain.as_str(), info.blocks), ("regtest", 102));
    let fee = rpc
        .estimate_smart_fee(2, Some(EstimateMode::Conservative))
        .await
        .unwrap();
    assert_eq!(fee.feerate, Some(Amount::from_base(10_000)));
    let address = rpc.validate_address("rltc1q").await.unwrap();
    assert_eq!(address.witness_version, Some(0));
    let descriptor = rpc.get_descriptor_info("wpkh(tpub/0/*)").await.unwrap();
    assert_eq!(descriptor.checksum, "abcd");
    assert_eq!(
        rpc.derive_addresses("wpkh(tpub/0/*)#abcd", Some((0, 1)))
            .await
            .unwrap(),
        ["a", "b"]
    );
    assert_eq!(rpc.send_raw_transaction("0200").await.unwrap(), "dd04");
    assert_eq!(rpc.call("nothing", Value::Null).await.unwrap(), Value::Null);
    let missing = rpc.call("nosuchmethod", json!([])).await.unwrap_err();
    assert_eq!(missing.code(), Some(codes::METHOD_NOT_FOUND));
    assert_eq!(
        missing.to_string(),
        "nosuchmethod failed: Method not found (RPC error -32601)"
    );

    let seen = node.seen.lock().unwrap();
    // Basic auth with the configured user and password on every request.
    assert!(
        seen.iter()
            .all(|(auth, _)| auth.as_deref() == Some("Basic a2Fzc2E6czNjcmV0"))
    );
    let params = |method: &str| {
        seen.iter()
            .find(|(_, r)| r["method"] == method)
            .map(|(_, r)| r["params"].clone())
            .unwrap()
    };
    assert_eq!(params("getblock"), json!(["00ff", 2]));
    assert_eq!(params("getrawtransaction"), json!(["dd04", true]));
    assert_eq!(params("estimatesmartfee"), json!([2, "CONSERVATIVE"]));
    assert_eq!(
        params("deriveaddresses"),
        json!(["wpkh(tpub/0/*)#abcd", [0, 1]])
    );
    assert_eq!(params("nothing"), json!([]));
    assert!(seen.iter().all(|(_, r)| r["jsonrpc"] == "1.0"));
}

#[tokio::test]
async fn failures_are_told_apart() {
    let node = fake_node(Arc::new(|request: &Value| {
        match request["method"].as_str().unwrap() {
            "unauthorized" => (StatusCode::UNAUTHORIZED, String::new()),
            "notfound" => (StatusCode::NOT_FOUND, "<html>no wallet</html>".into()),
            "rpcerror" => (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!(
                    r#"{{"result":null,"error":{{"code":-5,"message":"Block not found"}},"id":{}}}"#,
                    request["id"]
                ),
            ),
            "garbage" => (StatusCode::OK, "{not json".into()),
            "wrongshape" => ok(request, r#"{"unexpected":true}"#),
            "wrongid" => (StatusCode::OK, r#"{"result":1,"error":null,"id":999999}"#.into()),
            "badamount" => ok(
                request,
                r#"{"feerate":0.000000001,"blocks":2}"#,
            ),
            _ => ok(request, "0"),
        }
    }))
    .await;
    let rpc = client(&node.url);
    assert_eq!(
        rpc.call("unauthorized", json!([])).await.unwrap_err(),
        RpcError::Http {
            status: 401,
            body: String::new()
        }
    );
    assert!(matches!(
        rpc.call("notfound", json!([])).await.unwrap_err(),
        RpcError::Http { status: 404, body } if body.contains("no wallet")
    ));
    assert_eq!(
        rpc.call("rpcerror", json!([])).await.unwrap_err(),
        RpcError::Rpc {
            method: "rpcerror".into(),
            code: codes::INVALID_ADDRESS_OR_KEY,
            message: "Block not found".into()
        }
    );
    assert!(matches!(
        rpc.call("garbage", json!([])).await.unwrap_err(),
        RpcError::BadJson { method, .. } if method == "garbage"
    ));
    assert!(matches!(
        rpc.call_as::<Block>("wrongshape", json!([]))
            .await
            .unwrap_err(),
        RpcError::BadJson { .. }
    ));
    assert!(matches!(
        rpc.call("wrongid", json!([])).await.unwrap_err(),
        RpcError::BadJson { message, .. } if message.contains("999999")
    ));
    assert!(matches!(
        rpc.call_as::<FeeEstimate>("badamount", json!([])).await.unwrap_err(),
        RpcError::BadJson { message, .. } if message.contains("decimal places")
    ));
    // A node that does not answer in time.
    let started = std::time::Instant::now();
    assert_eq!(
        rpc.call("sleep", json!([])).await.unwrap_err(),
        RpcError::Timeout(Duration::from_millis(500))
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    // Nothing listening.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let err = client(&format!("http://{closed}"))
        .get_block_count()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RpcError::Transport(m) if m.to_lowercase().contains("refused")),
        "{err}"
    );
}

#[tokio::test]
async fn wallet_paths_and_settings() {
    let node = fake_node(Arc::new(|request: &Value| ok(request, "1"))).await;
    let rpc = client(&format!("{}/", node.url));
    let wallet = rpc.for_wallet("kassa test");
    assert_eq!(wallet.url(), format!("{}/wallet/kassa%20test", node.url));
    assert_eq!(
        wallet.call("getbalance", json!([])).await.unwrap(),
        json!(1)
    );
    for bad in ["", "127.0.0.1:8332", "ftp://node", "http://u:p@127.0.0.1:1"] {
        assert!(
            matches!(
                RpcClient::new(bad, "u", SecretString::new("p")),
                Err(RpcError::Config(_))
            ),
            "{bad}"
        );
    }
    let debug = format!("{rpc:?}");
    assert!(
        debug.contains("[redacted]") && !debug.contains("s3cret"),
        "{debug}"
    );
}
