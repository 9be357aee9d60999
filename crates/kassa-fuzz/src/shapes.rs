//! Hostile inputs as proptest strategies: the shapes attackers and broken clients send —
//! deep nesting of every kind, thousands of keys, long and odd numbers, invalid UTF-8, NULs,
//! byte-order marks, percent escapes — concatenated in random mixes, plus plain random
//! bytes. The HTTP corpus test (`crates/kassa/tests/it/hostile.rs`) sends the same kinds of
//! bodies to the running server.

use proptest::prelude::*;

/// One hostile piece.
fn piece() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        (1usize..4_000).prop_map(|n| "[".repeat(n).into_bytes()),
        (1usize..4_000).prop_map(|n| "{\"a\":".repeat(n).into_bytes()),
        (1usize..2_000).prop_map(|n| format!("add_fields{}=1&", "[x]".repeat(n)).into_bytes()),
        (1usize..2_000).prop_map(|n| format!("k{}=1&", "[]".repeat(n)).into_bytes()),
        (1usize..2_000).prop_map(|n| format!("{}=1&", "]".repeat(n)).into_bytes()),
        (1usize..1_500).prop_map(|n| (0..n)
            .map(|i| format!("k{i}=v&"))
            .collect::<String>()
            .into_bytes()),
        (1usize..1_500).prop_map(|n| format!(
            "{{{}\"z\":0}}",
            (0..n).map(|i| format!("\"k{i}\":1,")).collect::<String>()
        )
        .into_bytes()),
        "-?[0-9]{1,60}(\\.[0-9]{1,40})?([eE][+-]?[0-9]{1,5})?".prop_map(String::into_bytes),
        "[0-9]{0,3}[.,][0-9]{0,3}|NaN|inf|-0|\\+1|0x1f|1_000".prop_map(String::into_bytes),
        "[A-Za-z_]{1,12}".prop_map(String::into_bytes),
        "[a-z0-9.+_-]{0,10}@[a-zа-я0-9.-]{0,12}".prop_map(String::into_bytes),
        "(bc|ltc|tb|bcrt|rltc)1[02-9ac-hj-np-z]{6,70}".prop_map(String::into_bytes),
        "(0x|T|EQ|UQ)[0-9a-fA-Z]{0,64}".prop_map(String::into_bytes),
        Just(b"\xEF\xBB\xBF".to_vec()),
        Just(b"\0".to_vec()),
        Just(b"\xff\xfe\xc3\x28\xe2\x82".to_vec()),
        Just(b"%00%ff%e2%82%".to_vec()),
        Just(b"\"\\\"\\u0000\\ud800".to_vec()),
        Just(b"&&==&=".to_vec()),
        prop::collection::vec(any::<u8>(), 0..96),
    ]
}

/// A hostile input: one to six pieces, back to back.
pub fn hostile() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(piece(), 1..6).prop_map(|ps| ps.concat())
}
