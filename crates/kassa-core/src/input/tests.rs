use super::*;

const L: Limits = Limits::API_BODY;

fn text(m: &Map<String, Value>, k: &str) -> Option<String> {
    m.get(k).and_then(Value::as_str).map(str::to_owned)
}

#[test]
fn php_style_forms_nest() {
    let m = parse_form(
        b"shop_id=abc&amount=10.5&add_fields[time_to_pay][hours]=2&add_fields[available_currencies][]=BTC&add_fields[available_currencies][]=LTC",
        &L,
    )
    .unwrap();
    assert_eq!(text(&m, "amount").as_deref(), Some("10.5"));
    assert_eq!(m["add_fields"]["time_to_pay"]["hours"], "2");
    assert_eq!(
        m["add_fields"]["available_currencies"],
        serde_json::json!(["BTC", "LTC"])
    );
}

#[test]
fn later_fields_of_another_shape_win() {
    let m = parse_form(b"a=1&a[b]=2&c[]=1&c[x]=2&d[][x]=1&d[][y]=2", &L).unwrap();
    assert_eq!(m["a"], serde_json::json!({"b": "2"}));
    assert_eq!(m["c"], serde_json::json!({"x": "2"}));
    assert_eq!(m["d"], serde_json::json!([{"x": "1"}, {"y": "2"}]));
}

#[test]
fn the_reported_crash_is_a_depth_error() {
    // `add_fields[x][x]…[x]=1`, 7,000 levels: this overflowed the stack of a runtime worker.
    let body = format!("add_fields{}=1", "[x]".repeat(7_000));
    assert_eq!(
        parse_body(body.as_bytes(), Declared::Form, &L),
        Err(InputError::TooDeep { max: 8 })
    );
    // The same as JSON, and as text that JSON refuses and the form fallback used to read.
    let deep = "[".repeat(20_000);
    for declared in [Declared::Other, Declared::Form] {
        assert_eq!(
            parse_body(deep.as_bytes(), declared, &L),
            Err(InputError::TooDeep { max: 8 })
        );
    }
    let deep_obj = format!("{}1{}", "{\"a\":".repeat(9), "}".repeat(9));
    assert_eq!(
        parse_body(deep_obj.as_bytes(), Declared::Other, &L),
        Err(InputError::TooDeep { max: 8 })
    );
}

#[test]
fn depth_is_counted_exactly() {
    let ok = format!("a{}=1", "[x]".repeat(7));
    assert!(parse_form(ok.as_bytes(), &L).is_ok());
    let over = format!("a{}=1", "[x]".repeat(8));
    assert_eq!(
        parse_form(over.as_bytes(), &L),
        Err(InputError::TooDeep { max: 8 })
    );
    let ok = format!("{}1{}", "[".repeat(8), "]".repeat(8));
    assert!(parse_json(ok.as_bytes(), &L).unwrap().is_some());
    // Brackets inside strings, escaped quotes included, are text, not nesting.
    let quoted = format!(r#"{{"a":"\"{}"}}"#, "[".repeat(100));
    assert!(parse_json(quoted.as_bytes(), &L).unwrap().is_some());
}

#[test]
fn counts_and_lengths_are_bounded() {
    let many: String = (0..1_001).map(|i| format!("k{i}=1&")).collect();
    assert_eq!(
        parse_body(many.as_bytes(), Declared::Form, &L),
        Err(InputError::TooManyFields { max: 1_000 })
    );
    let many_json = format!("[{}1]", "1,".repeat(1_000));
    assert_eq!(
        parse_json(many_json.as_bytes(), &L),
        Err(InputError::TooManyFields { max: 1_000 })
    );
    let long_key = format!("{}=1", "k".repeat(129));
    assert_eq!(
        parse_form(long_key.as_bytes(), &L),
        Err(InputError::KeyTooLong { max: 128 })
    );
    let long_value = format!(r#"{{"order_id":"{}"}}"#, "v".repeat(16 * 1024 + 1));
    assert_eq!(
        parse_body(long_value.as_bytes(), Declared::Other, &L),
        Err(InputError::ValueTooLong {
            field: "order_id".into(),
            max: 16 * 1024
        })
    );
    let huge = vec![b' '; 64 * 1024 + 1];
    assert_eq!(
        parse_body(&huge, Declared::Other, &L),
        Err(InputError::TooLarge { max: 64 * 1024 })
    );
}

#[test]
fn bodies_are_read_leniently_within_the_limits() {
    assert_eq!(parse_body(b"  \n", Declared::Other, &L), Ok(Map::new()));
    // JSON with a form content type, a form with a JSON one.
    let m = parse_body(br#"{"amount": 10}"#, Declared::Form, &L).unwrap();
    assert_eq!(m["amount"], 10);
    let m = parse_body(b"amount=10", Declared::Other, &L).unwrap();
    assert_eq!(text(&m, "amount").as_deref(), Some("10"));
    assert_eq!(
        parse_body(b"[1, 2]", Declared::Other, &L),
        Err(InputError::NotAnObject)
    );
    // Invalid UTF-8 and broken escapes are read, not refused, and never panic.
    let m = parse_body(b"a=%FF%fe\xff&b=%&c=%zz", Declared::Form, &L).unwrap();
    assert_eq!(m.len(), 3);
}

#[test]
fn flat_pairs_respect_the_query_limits() {
    let q = Limits::QUERY;
    assert_eq!(pairs(b"a=1&b=2", &q).unwrap().len(), 2);
    let many: String = (0..65).map(|i| format!("k{i}=1&")).collect();
    assert_eq!(
        check_pairs(many.as_bytes(), &q),
        Err(InputError::TooManyFields { max: 64 })
    );
    assert_eq!(
        check_pairs(&vec![b'a'; 4 * 1024 + 1], &q),
        Err(InputError::TooLarge { max: 4 * 1024 })
    );
}
