//! What a project's settings are made of, beyond plain text.

/// How a project's postbacks are encoded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PostbackFormat {
    /// `application/json` (the default).
    #[default]
    Json,
    /// `application/x-www-form-urlencoded`, as some shop plugins expect.
    Form,
}

impl PostbackFormat {
    /// The stored and displayed name (`json` / `form`).
    pub fn as_str(self) -> &'static str {
        match self {
            PostbackFormat::Json => "json",
            PostbackFormat::Form => "form",
        }
    }

    /// Parses the name.
    pub fn parse(s: &str) -> Option<PostbackFormat> {
        match s {
            "json" => Some(PostbackFormat::Json),
            "form" => Some(PostbackFormat::Form),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for f in [PostbackFormat::Json, PostbackFormat::Form] {
            assert_eq!(PostbackFormat::parse(f.as_str()), Some(f));
        }
        assert_eq!(PostbackFormat::parse("xml"), None);
    }
}
