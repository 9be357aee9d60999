//! The words of a notification, in the reader's language: `notify.<kind>.title` and
//! `notify.<kind>.body` of the catalogues, their `{name}` placeholders filled from the event's
//! parameters (strings and numbers only; nothing else is printed).

use serde_json::Value;

use crate::i18n::Tr;

/// A notification as words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendered {
    /// One line.
    pub title: String,
    /// A sentence or two.
    pub body: String,
}

/// `kind`'s texts with `params` filled in.
pub fn render(tr: Tr, kind: &str, params: &Value) -> Rendered {
    let mut args: Vec<(&str, String)> = Vec::new();
    if let Some(map) = params.as_object() {
        for (name, value) in map {
            let text = match value {
                // `@key`: a word of the catalogue, in the reader's language.
                Value::String(v) if v.starts_with("@notify.") => {
                    tr.t(v.trim_start_matches('@')).to_owned()
                }
                Value::String(v) => v.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(true) => tr.t("notify.yes").to_owned(),
                _ => continue,
            };
            args.push((name.as_str(), text));
        }
    }
    let args: Vec<(&str, &dyn std::fmt::Display)> = args
        .iter()
        .map(|(name, text)| (*name, text as &dyn std::fmt::Display))
        .collect();
    // Placeholders, and word forms for numbers (`{count|payment|payments}`).
    let fill = |key: String| tr.f(&key, &args);
    let mut title = fill(format!("notify.{kind}.title"));
    if params.get("test") == Some(&Value::Bool(true)) {
        title = format!("{title} {}", tr.t("notify.test_mark"));
    }
    Rendered {
        title,
        body: fill(format!("notify.{kind}.body")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::Lang;
    use serde_json::json;

    #[test]
    fn every_kind_has_words_in_every_language() {
        for lang in [Lang::En, Lang::Ru] {
            let tr = Tr::new(lang);
            for k in super::super::KINDS {
                for part in ["title", "body"] {
                    let key = format!("notify.{}.{part}", k.key);
                    assert_ne!(tr.t(&key), key, "{lang:?} lacks {key}");
                }
            }
            for key in [
                "notify.digest.title",
                "notify.digest.body",
                "notify.telegram_unlinked.title",
                "notify.telegram_linked.body",
            ] {
                assert_ne!(tr.t(key), key, "{lang:?} lacks {key}");
            }
        }
    }

    #[test]
    fn placeholders_are_filled_and_test_invoices_marked() {
        let tr = Tr::new(Lang::En);
        let r = render(
            tr,
            "invoice.paid",
            &json!({"invoice": "INV-ABCD1234", "amount": "0.5", "currency": "LTC", "project": "Shop", "test": true}),
        );
        assert!(
            r.title.contains("INV-ABCD1234") && r.title.ends_with("(test)"),
            "{r:?}"
        );
        assert!(
            r.body.contains("0.5 LTC") && r.body.contains("Shop"),
            "{r:?}"
        );
    }
}
