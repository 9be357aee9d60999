//! Translations. Every text a person reads comes from `locales/<lang>.toml` through
//! [`Tr::t`]; the catalogues are embedded in the binary. English is complete by definition;
//! a test checks that every other language has exactly the same keys and that every key the
//! code and templates use exists.

use std::collections::HashMap;
use std::fmt::Display;
use std::sync::OnceLock;

pub use kassa_core::lang::Lang;

/// The catalogue files of a language: the main one and one per area (each area's
/// keys live under its own top-level table, so the files never overlap).
fn sources(lang: Lang) -> [(&'static str, &'static str); 6] {
    match lang {
        Lang::En => [
            ("en.toml", include_str!("../locales/en.toml")),
            ("en.pay.toml", include_str!("../locales/en.pay.toml")),
            (
                "en.invoices.toml",
                include_str!("../locales/en.invoices.toml"),
            ),
            (
                "en.payments.toml",
                include_str!("../locales/en.payments.toml"),
            ),
            (
                "en.balance.toml",
                include_str!("../locales/en.balance.toml"),
            ),
            ("en.notify.toml", include_str!("../locales/en.notify.toml")),
        ],
        Lang::Ru => [
            ("ru.toml", include_str!("../locales/ru.toml")),
            ("ru.pay.toml", include_str!("../locales/ru.pay.toml")),
            (
                "ru.invoices.toml",
                include_str!("../locales/ru.invoices.toml"),
            ),
            (
                "ru.payments.toml",
                include_str!("../locales/ru.payments.toml"),
            ),
            (
                "ru.balance.toml",
                include_str!("../locales/ru.balance.toml"),
            ),
            ("ru.notify.toml", include_str!("../locales/ru.notify.toml")),
        ],
    }
}

type Catalog = HashMap<String, String>;

fn flatten(prefix: &str, table: &toml::Table, out: &mut Catalog) {
    for (k, v) in table {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::Table(t) => flatten(&key, t, out),
            toml::Value::String(s) => {
                out.insert(key, s.clone());
            }
            other => {
                out.insert(key, other.to_string());
            }
        }
    }
}

/// The parsed catalogue of `lang`. A catalogue that does not parse is empty (every lookup
/// then falls back to English, then to the key); the catalogue test catches it first.
pub fn catalog(lang: Lang) -> &'static Catalog {
    static CATALOGS: OnceLock<HashMap<Lang, Catalog>> = OnceLock::new();
    let all = CATALOGS.get_or_init(|| {
        Lang::ALL
            .into_iter()
            .map(|l| {
                let mut out = Catalog::new();
                for (_, source) in sources(l) {
                    if let Ok(table) = source.parse::<toml::Table>() {
                        flatten("", &table, &mut out);
                    }
                }
                (l, out)
            })
            .collect()
    });
    static EMPTY: OnceLock<Catalog> = OnceLock::new();
    all.get(&lang)
        .unwrap_or_else(|| EMPTY.get_or_init(Catalog::new))
}

/// Translates for one language; what templates call as `t.t("key")`.
#[derive(Clone, Copy, Debug)]
pub struct Tr {
    /// The language.
    pub lang: Lang,
}

impl Tr {
    /// A translator for `lang`.
    pub fn new(lang: Lang) -> Self {
        Self { lang }
    }

    /// The text for `key`, falling back to English, then to the key itself.
    pub fn t<'a>(&self, key: &'a str) -> &'a str
    where
        'static: 'a,
    {
        catalog(self.lang)
            .get(key)
            .or_else(|| catalog(Lang::En).get(key))
            .map_or(key, String::as_str)
    }

    /// The text for `key` with `{name}` placeholders filled in. `{name|form|form…}` picks the
    /// word form for the number `name` by the language's plural rule (English: one, other;
    /// Russian: one, few, many), e.g. `{count} {count|invoice|invoices}`.
    pub fn f(&self, key: &str, args: &[(&str, &dyn Display)]) -> String {
        let mut s = self.t(key).to_owned();
        for (name, value) in args {
            let value = value.to_string();
            s = s.replace(&format!("{{{name}}}"), &value);
            let open = format!("{{{name}|");
            while let Some(start) = s.find(&open) {
                let Some(len) = s[start..].find('}') else {
                    break;
                };
                let forms: Vec<&str> = s[start + open.len()..start + len].split('|').collect();
                let n = value.trim().parse::<u64>().unwrap_or(u64::MAX);
                let pick = self.plural_form(n).min(forms.len().saturating_sub(1));
                let word = forms.get(pick).copied().unwrap_or_default().to_owned();
                s.replace_range(start..=start + len, &word);
            }
        }
        s
    }

    /// Which plural form (0, 1, 2) the number `n` takes in this language.
    fn plural_form(&self, n: u64) -> usize {
        match self.lang {
            Lang::Ru => match (n % 10, n % 100) {
                (1, r) if r != 11 => 0,
                (2..=4, r) if !(12..=14).contains(&r) => 1,
                _ => 2,
            },
            _ => usize::from(n != 1),
        }
    }

    /// Shorthand for one placeholder.
    pub fn f1(&self, key: &str, name: &str, value: &dyn Display) -> String {
        self.f(key, &[(name, value)])
    }

    /// A timestamp as the user reads it: `2026-11-24 10:15 UTC`.
    pub fn datetime(&self, t: kassa_core::Timestamp) -> String {
        let d = t.to_datetime();
        format!(
            "{:04}-{:02}-{:02} {:02}:{:02} UTC",
            d.year(),
            u8::from(d.month()),
            d.day(),
            d.hour(),
            d.minute()
        )
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    use super::*;

    #[test]
    fn catalogues_parse_and_have_the_same_keys() {
        let mut tables: HashMap<String, &str> = HashMap::new();
        for lang in Lang::ALL {
            for (file, source) in sources(lang) {
                let table = source
                    .parse::<toml::Table>()
                    .unwrap_or_else(|e| panic!("locales/{file}: {e}"));
                // Two files of one language must not define the same top-level table.
                for key in table.keys() {
                    let id = format!("{}:{key}", lang.code());
                    if let Some(other) = tables.insert(id, file) {
                        panic!("locales/{file} and locales/{other} both define [{key}]");
                    }
                }
            }
        }
        let en: BTreeSet<_> = catalog(Lang::En).keys().collect();
        for lang in Lang::ALL {
            let other: BTreeSet<_> = catalog(lang).keys().collect();
            let missing: Vec<_> = en.difference(&other).collect();
            let extra: Vec<_> = other.difference(&en).collect();
            assert!(
                missing.is_empty() && extra.is_empty(),
                "{}: missing {missing:?}, extra {extra:?}",
                lang.code()
            );
            for (k, v) in catalog(lang) {
                assert!(!v.trim().is_empty(), "{}: {k} is empty", lang.code());
                // `{count|one|other}` counts as the placeholder `{count`.
                let placeholders = |s: &str| {
                    s.match_indices('{')
                        .map(|(i, _)| s[i..].split(['}', '|']).next().unwrap_or("").to_owned())
                        .collect::<BTreeSet<_>>()
                };
                assert_eq!(
                    placeholders(v),
                    placeholders(&catalog(Lang::En)[k]),
                    "{}: placeholders of {k}",
                    lang.code()
                );
            }
        }
    }

    #[test]
    fn plural_forms_follow_each_language() {
        let en = Tr::new(Lang::En);
        let ru = Tr::new(Lang::Ru);
        let words = |tr: Tr, n: u64| tr.f1("dashboard.expiring", "count", &n);
        assert_eq!(words(en, 1), "1 invoice expires within the hour");
        assert_eq!(words(en, 2), "2 invoices expire within the hour");
        assert_eq!(words(en, 0), "0 invoices expire within the hour");
        for (n, word) in [
            (1, "счёт"),
            (21, "счёт"),
            (2, "счёта"),
            (24, "счёта"),
            (5, "счетов"),
            (11, "счетов"),
            (12, "счетов"),
            (111, "счетов"),
        ] {
            assert!(
                words(ru, n).starts_with(&format!("{n} {word} ")),
                "{n}: {}",
                words(ru, n)
            );
        }
    }

    /// Every `t("…")`, `f("…"`, `f1("…"` key in the sources and templates exists in English.
    #[test]
    fn every_used_key_exists() {
        // The catalogues serve this crate (e-mails) and the server's pages and templates.
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let server = root.join("../kassa-server");
        let mut used = BTreeSet::new();
        let mut stack = vec![
            root.join("src"),
            server.join("src"),
            server.join("templates"),
        ];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                for call in ["t(\"", "f(\"", "f1(\"", "tkey!(\""] {
                    for (i, _) in text.match_indices(call) {
                        let rest = &text[i + call.len()..];
                        let key = rest.split('"').next().unwrap_or_default();
                        if key.contains('.') && !key.contains(' ') && !key.contains('{') {
                            used.insert((key.to_owned(), path.display().to_string()));
                        }
                    }
                }
            }
        }
        assert!(
            used.len() > 20,
            "the scan found too few keys: {}",
            used.len()
        );
        let missing: Vec<_> = used
            .iter()
            .filter(|(k, _)| !catalog(Lang::En).contains_key(k))
            .collect();
        assert!(
            missing.is_empty(),
            "keys used but not in locales/en.toml: {missing:#?}"
        );
    }

    #[test]
    fn accept_language_prefers_higher_q() {
        assert_eq!(
            Lang::from_accept_language("ru-RU,ru;q=0.9,en-US;q=0.8"),
            Some(Lang::Ru)
        );
        assert_eq!(
            Lang::from_accept_language("de-DE,en;q=0.5,ru;q=0.7"),
            Some(Lang::Ru)
        );
        assert_eq!(Lang::from_accept_language("fr"), None);
        assert_eq!(Lang::from_accept_language("ru;q=0"), None);
    }
}
