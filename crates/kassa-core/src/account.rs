//! Accounts: e-mail addresses, the password policy, and who may do what (roles, sections and
//! the per-user grants an owner can set).

use std::fmt;

/// A normalised e-mail address that the mail transport can deliver to: trimmed, lowercased,
/// an ASCII local part (RFC 5322 dot-atom: deliverable without the SMTPUTF8 extension, which
/// many servers lack) and a domain of DNS labels, an internationalised domain kept in its
/// ASCII (punycode) form. Every place that takes an address (sign-up, staff, the API's
/// `email` and `email_to_send`, the payment page) parses it with [`Email::parse`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Email(String);

/// Why an e-mail address was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    /// Nothing was entered.
    #[error("enter an e-mail address")]
    Empty,
    /// Not of the form `name@domain.tld`, or with characters a mail server cannot take.
    #[error("this is not an e-mail address")]
    Invalid,
    /// Longer than RFC 5321 allows.
    #[error("this e-mail address is too long")]
    TooLong,
}

impl Email {
    /// Parses and normalises an address. Syntax only: deliverability is proved by the
    /// confirmation e-mail.
    pub fn parse(input: &str) -> Result<Self, EmailError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(EmailError::Empty);
        }
        // Checked before any work, so a huge input costs nothing.
        if s.len() > 254 * 4 {
            return Err(EmailError::TooLong);
        }
        let (local, domain) = s.rsplit_once('@').ok_or(EmailError::Invalid)?;
        let local = local.to_ascii_lowercase();
        let atext = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~".contains(&b);
        let dot_atom = !local.is_empty()
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local.bytes().all(|b| atext(b) || b == b'.');
        if !dot_atom {
            return Err(EmailError::Invalid);
        }
        // IDNA mapping lowercases and turns `магазин.рф` into `xn--80aairftm.xn--p1ai`.
        let domain = idna::domain_to_ascii(domain).map_err(|_| EmailError::Invalid)?;
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        };
        let labels: Vec<&str> = domain.split('.').collect();
        let tld_ok = labels
            .last()
            .is_some_and(|t| !t.bytes().all(|b| b.is_ascii_digit()));
        if labels.len() < 2 || !labels.iter().all(|l| label_ok(l)) || !tld_ok {
            return Err(EmailError::Invalid);
        }
        if local.len() > 64 || local.len() + 1 + domain.len() > 254 {
            return Err(EmailError::TooLong);
        }
        Ok(Self(format!("{local}@{domain}")))
    }

    /// The address.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part before the `@`.
    pub fn local_part(&self) -> &str {
        self.0.split('@').next().unwrap_or_default()
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Shortest accepted password, in characters.
pub const PASSWORD_MIN_CHARS: usize = 10;
/// Longest accepted password, in characters (hashing cost is bounded).
pub const PASSWORD_MAX_CHARS: usize = 128;

static COMMON_PASSWORDS: &str = include_str!("../data/common-passwords.txt");

/// Why a new password was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    /// Under [`PASSWORD_MIN_CHARS`].
    #[error("use at least 10 characters")]
    TooShort,
    /// Over [`PASSWORD_MAX_CHARS`].
    #[error("use at most 128 characters")]
    TooLong,
    /// One of the most common passwords.
    #[error("this password is one of the most common ones; choose another")]
    Common,
    /// Contains the whole e-mail address.
    #[error("the password contains your e-mail address")]
    ContainsEmail,
    /// Contains the name before the `@` of the e-mail address (four characters or more).
    #[error("the password contains the name of your e-mail address (before the @)")]
    ContainsEmailName,
    /// One character repeated, or a plain sequence.
    #[error("this password is too easy to guess")]
    Trivial,
}

/// Checks a new password against the policy: 10–128 characters, not one of the most common
/// passwords, not built from the account's e-mail, not a repeated character or a sequence.
pub fn check_password(password: &str, email: Option<&Email>) -> Result<(), PasswordError> {
    let chars = password.chars().count();
    if chars < PASSWORD_MIN_CHARS {
        return Err(PasswordError::TooShort);
    }
    if chars > PASSWORD_MAX_CHARS {
        return Err(PasswordError::TooLong);
    }
    let lower = password.to_lowercase();
    if COMMON_PASSWORDS
        .lines()
        .any(|l| !l.starts_with('#') && l == lower)
    {
        return Err(PasswordError::Common);
    }
    if let Some(email) = email {
        let local = email.local_part();
        if lower.contains(email.as_str()) {
            return Err(PasswordError::ContainsEmail);
        }
        if local.chars().count() >= 4 && lower.contains(local) {
            return Err(PasswordError::ContainsEmailName);
        }
    }
    let bytes: Vec<char> = lower.chars().collect();
    let repeated = bytes.iter().all(|c| *c == bytes[0]);
    let steps: Vec<i64> = bytes
        .windows(2)
        .map(|w| i64::from(u32::from(w[1])) - i64::from(u32::from(w[0])))
        .collect();
    let sequence = steps.iter().all(|d| *d == 1) || steps.iter().all(|d| *d == -1);
    if repeated || sequence {
        return Err(PasswordError::Trivial);
    }
    Ok(())
}

/// A staff member's role within a merchant account.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Created the account; everything, including staff.
    Owner,
    /// Everything except staff management.
    Admin,
    /// Projects, keys and integration; no money.
    Developer,
    /// Payments, balances and exports.
    Accountant,
    /// Payments and invoice actions for customer support.
    Support,
    /// Read-only.
    Viewer,
}

impl Role {
    /// Every role, highest first.
    pub const ALL: [Role; 6] = [
        Role::Owner,
        Role::Admin,
        Role::Developer,
        Role::Accountant,
        Role::Support,
        Role::Viewer,
    ];

    /// Roles an owner can give when inviting (there is one owner).
    pub const INVITABLE: [Role; 5] = [
        Role::Admin,
        Role::Developer,
        Role::Accountant,
        Role::Support,
        Role::Viewer,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Developer => "developer",
            Role::Accountant => "accountant",
            Role::Support => "support",
            Role::Viewer => "viewer",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Whether the role allows `section` before any per-user change (the product's role
    /// matrix).
    pub fn allows(self, section: Section) -> bool {
        use Role::*;
        use Section::*;
        match section {
            ViewProjects | ViewPayments => true,
            EditProjects | ApiKeys => matches!(self, Owner | Admin | Developer),
            CreateInvoices => matches!(self, Owner | Admin | Developer | Accountant | Support),
            InvoiceActions => matches!(self, Owner | Admin | Accountant | Support),
            Export => matches!(self, Owner | Admin | Developer | Accountant),
            ViewBalance => matches!(self, Owner | Admin | Accountant | Viewer),
            Withdraw | ViewActivity => matches!(self, Owner | Admin),
            ManageStaff => self == Owner,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a user's membership stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserStatus {
    /// Invited; has not set a password yet.
    Invited,
    /// Can sign in.
    Active,
    /// Access removed by the owner (or the operator).
    Revoked,
}

impl UserStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            UserStatus::Invited => "invited",
            UserStatus::Active => "active",
            UserStatus::Revoked => "revoked",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        [UserStatus::Invited, UserStatus::Active, UserStatus::Revoked]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

/// A section of the dashboard or an action, as the role matrix lists them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Section {
    /// See projects.
    ViewProjects,
    /// Create and edit projects and their payment page.
    EditProjects,
    /// See and regenerate API keys, postback settings.
    ApiKeys,
    /// See payments, invoices and statistics.
    ViewPayments,
    /// Create invoices.
    CreateInvoices,
    /// Cancel invoices, confirm partial payments, resend postbacks.
    InvoiceActions,
    /// Export data.
    Export,
    /// See balances.
    ViewBalance,
    /// Withdraw; manage withdrawal addresses and automatic withdrawal rules.
    Withdraw,
    /// Invite, change and revoke staff.
    ManageStaff,
    /// See the activity log.
    ViewActivity,
}

impl Section {
    /// Every section, in the order the matrix lists them.
    pub const ALL: [Section; 11] = [
        Section::ViewProjects,
        Section::EditProjects,
        Section::ApiKeys,
        Section::ViewPayments,
        Section::CreateInvoices,
        Section::InvoiceActions,
        Section::Export,
        Section::ViewBalance,
        Section::Withdraw,
        Section::ManageStaff,
        Section::ViewActivity,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Section::ViewProjects => "view_projects",
            Section::EditProjects => "edit_projects",
            Section::ApiKeys => "api_keys",
            Section::ViewPayments => "view_payments",
            Section::CreateInvoices => "create_invoices",
            Section::InvoiceActions => "invoice_actions",
            Section::Export => "export",
            Section::ViewBalance => "view_balance",
            Section::Withdraw => "withdraw",
            Section::ManageStaff => "manage_staff",
            Section::ViewActivity => "view_activity",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Whether an owner may change this section for a staff member. Staff management stays
    /// with the owner alone, so nobody else can give themselves more access.
    pub fn is_grantable(self) -> bool {
        self != Section::ManageStaff
    }
}

/// What one user may do: the role's defaults with the owner's per-user changes on top.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grants {
    /// The user's role.
    pub role: Role,
    /// Sections the owner opened (`true`) or closed (`false`) for this user.
    pub overrides: Vec<(Section, bool)>,
}

impl Grants {
    /// Whether the user may use `section`. The owner always may; nobody but the owner may
    /// manage staff, whatever the overrides say.
    pub fn allows(&self, section: Section) -> bool {
        if self.role == Role::Owner {
            return true;
        }
        if !section.is_grantable() {
            return false;
        }
        self.overrides
            .iter()
            .rev()
            .find(|(s, _)| *s == section)
            .map_or_else(|| self.role.allows(section), |(_, allowed)| *allowed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            Email::parse("  Alice@Example.COM ").unwrap().as_str(),
            "alice@example.com"
        );
        assert_eq!(
            Email::parse("a.b+tag@mail.example.co.uk")
                .unwrap()
                .local_part(),
            "a.b+tag"
        );
        assert_eq!(Email::parse(""), Err(EmailError::Empty));
        for bad in [
            "alice",
            "alice@",
            "@example.com",
            "alice@example",
            "a b@example.com",
            "a@ex..com",
            "a@-x.com",
            "a@b@c.com",
            // What the mail transport refuses: non-ASCII local parts, quoted strings, dots at
            // the ends, control characters, numeric top-level domains.
            "😀@example.com",
            "пользователь@example.com",
            "\"a b\"@example.com",
            ".a@example.com",
            "a.@example.com",
            "a..b@example.com",
            "a\0@example.com",
            "a\r\n@example.com",
            "a@example.123",
            "a@exa mple.com",
            "a@[127.0.0.1]",
        ] {
            assert_eq!(Email::parse(bad), Err(EmailError::Invalid), "{bad}");
        }
        // Internationalised domains are kept in the ASCII form every server accepts.
        assert_eq!(
            Email::parse("Info@Магазин.РФ").unwrap().as_str(),
            "info@xn--80aairftm.xn--p1ai"
        );
        assert_eq!(
            Email::parse(&format!("{}@example.com", "a".repeat(250))),
            Err(EmailError::TooLong)
        );
    }

    #[test]
    fn password_policy() {
        let email = Email::parse("marina.k@shop.example").unwrap();
        assert_eq!(
            check_password("short1!", None),
            Err(PasswordError::TooShort)
        );
        assert_eq!(
            check_password(&"x".repeat(129), None),
            Err(PasswordError::TooLong)
        );
        assert_eq!(
            check_password("1234567890", None),
            Err(PasswordError::Common)
        );
        assert_eq!(
            check_password("Basketball", None),
            Err(PasswordError::Common),
            "case does not save a common password"
        );
        assert_eq!(
            check_password("marina.k-2026!", Some(&email)),
            Err(PasswordError::ContainsEmailName)
        );
        assert_eq!(
            check_password("x marina.k@shop.example", Some(&email)),
            Err(PasswordError::ContainsEmail)
        );
        assert_eq!(
            check_password("zzzzzzzzzzzz", None),
            Err(PasswordError::Trivial)
        );
        assert_eq!(
            check_password("abcdefghijklm", None),
            Err(PasswordError::Trivial)
        );
        assert_eq!(
            check_password("correct horse battery", Some(&email)),
            Ok(())
        );
        assert_eq!(
            check_password("пароль-надёжный-9", None),
            Ok(()),
            "non-ASCII counts characters, not bytes"
        );
        assert_eq!(
            check_password("ключ-2026", None),
            Err(PasswordError::TooShort)
        );
    }

    #[test]
    fn common_list_is_loaded() {
        let entries = COMMON_PASSWORDS
            .lines()
            .filter(|l| !l.starts_with('#'))
            .count();
        assert!(entries > 1500, "{entries}");
        assert!(
            COMMON_PASSWORDS
                .lines()
                .filter(|l| !l.starts_with('#'))
                .all(|l| l.chars().count() >= PASSWORD_MIN_CHARS)
        );
    }

    #[test]
    fn role_matrix_matches_the_product_spec() {
        use Section::*;
        // Rows of the matrix in product.md; columns owner, admin, developer, accountant, support, viewer.
        let matrix: [(Section, [u8; 6]); 11] = [
            (ViewProjects, [1, 1, 1, 1, 1, 1]),
            (EditProjects, [1, 1, 1, 0, 0, 0]),
            (ApiKeys, [1, 1, 1, 0, 0, 0]),
            (ViewPayments, [1, 1, 1, 1, 1, 1]),
            (CreateInvoices, [1, 1, 1, 1, 1, 0]),
            (InvoiceActions, [1, 1, 0, 1, 1, 0]),
            (Export, [1, 1, 1, 1, 0, 0]),
            (ViewBalance, [1, 1, 0, 1, 0, 1]),
            (Withdraw, [1, 1, 0, 0, 0, 0]),
            (ManageStaff, [1, 0, 0, 0, 0, 0]),
            (ViewActivity, [1, 1, 0, 0, 0, 0]),
        ];
        for (section, row) in matrix {
            for (role, allowed) in Role::ALL.into_iter().zip(row) {
                assert_eq!(role.allows(section), allowed == 1, "{role} × {section:?}");
            }
        }
    }

    #[test]
    fn overrides_narrow_and_widen_but_never_staff() {
        let viewer = Grants {
            role: Role::Viewer,
            overrides: vec![(Section::ViewBalance, false), (Section::Export, true)],
        };
        assert!(!viewer.allows(Section::ViewBalance));
        assert!(viewer.allows(Section::Export));
        assert!(viewer.allows(Section::ViewPayments));
        let admin = Grants {
            role: Role::Admin,
            overrides: vec![(Section::ManageStaff, true)],
        };
        assert!(!admin.allows(Section::ManageStaff));
        let owner = Grants {
            role: Role::Owner,
            overrides: vec![(Section::Withdraw, false)],
        };
        assert!(
            owner.allows(Section::Withdraw),
            "the owner cannot be locked out"
        );
        for s in Section::ALL {
            assert_eq!(Section::parse(s.as_str()), Some(s));
        }
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
    }
}
