//! Form helpers: errors shown next to their fields, in the visitor's language.

use std::collections::BTreeMap;

use kassa_service::i18n::Tr;

/// Errors of a submitted form, by field name, already translated.
#[derive(Clone, Debug, Default)]
pub struct FieldErrors(BTreeMap<&'static str, String>);

impl FieldErrors {
    /// No errors.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the translation of `key` as the error of `field`.
    pub fn add(&mut self, tr: Tr, field: &'static str, key: &str) {
        self.0.entry(field).or_insert_with(|| tr.t(key).to_owned());
    }

    /// Adds a message already translated.
    pub fn add_text(&mut self, field: &'static str, text: String) {
        self.0.entry(field).or_insert(text);
    }

    /// The error of `field`, if any.
    pub fn get(&self, field: &str) -> Option<&str> {
        self.0.get(field).map(String::as_str)
    }

    /// Whether `field` has an error.
    pub fn has(&self, field: &str) -> bool {
        self.0.contains_key(field)
    }

    /// Whether the form is valid.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The translation key of an e-mail parse error.
pub fn email_error_key(e: kassa_core::account::EmailError) -> &'static str {
    use kassa_core::account::EmailError::*;
    match e {
        Empty => "form.email.empty",
        Invalid => "form.email.invalid",
        TooLong => "form.email.too_long",
    }
}

/// The translation key of a password policy error.
pub fn password_error_key(e: kassa_core::account::PasswordError) -> &'static str {
    use kassa_core::account::PasswordError::*;
    match e {
        TooShort => "form.password.too_short",
        TooLong => "form.password.too_long",
        Common => "form.password.common",
        ContainsEmail => "form.password.contains_email",
        ContainsEmailName => "form.password.contains_email_name",
        Trivial => "form.password.trivial",
    }
}
