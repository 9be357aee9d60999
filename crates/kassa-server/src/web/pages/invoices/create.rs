//! The create form.

use super::*;

/// The creation form as submitted (kept as typed to show it again).
#[derive(Clone, Debug, Default)]
pub struct NewInput {
    pub(super) amount: String,
    pub(super) currency: String,
    pub(super) order_id: String,
    pub(super) email: String,
    pub(super) lifetime: String,
    pub(super) allowed: Vec<String>,
    pub(super) description: String,
    pub(super) send_link: bool,
}

impl NewInput {
    /// Reads the form's pairs (checkboxes repeat a key).
    fn parse(form: FormPairs) -> Self {
        let mut f = NewInput::default();
        for (k, v) in form.0 {
            match k.as_str() {
                "amount" => f.amount = v,
                "currency" => f.currency = v,
                "order_id" => f.order_id = v,
                "email" => f.email = v,
                "lifetime" => f.lifetime = v,
                "allowed" => f.allowed.push(v),
                "description" => f.description = v,
                "send_link" => f.send_link = true,
                _ => {}
            }
        }
        f
    }

    fn allows(&self, code: &str) -> bool {
        self.allowed.iter().any(|c| c == code)
    }
}

#[derive(Template)]
#[template(path = "invoices/new.html")]
struct NewPage<'a> {
    page: &'a Page,
    project: &'a ProjectRow,
    f: &'a NewInput,
    errors: &'a FieldErrors,
    form_error: Option<String>,
    fiats: Vec<&'static str>,
    offered: Vec<&'static Crypto>,
    lifetime_hint: String,
}

fn new_page(
    st: &AppState,
    ctx: &WebCtx,
    project: &ProjectRow,
    f: &NewInput,
    errors: &FieldErrors,
    form_error: Option<&str>,
) -> Result<Response, WebError> {
    let page = Page::new(ctx, "invoices.new.title");
    let form_error = form_error
        .or(project
            .archived_at
            .is_some()
            .then_some("invoices.new.archived"))
        .map(|k| page.t(k).to_owned());
    let lifetime_hint = page.tr.f1(
        "invoices.field.lifetime_hint",
        "minutes",
        &project.settings.invoice_lifetime_minutes,
    );
    Ok(html(
        NewPage {
            page: &page,
            project,
            f,
            errors,
            form_error,
            fiats: currency::FIATS.iter().map(|f| f.code).collect(),
            offered: svc::offered(st, project),
            lifetime_hint,
        }
        .render()?,
    ))
}

/// `GET /projects/{id}/invoices/new`
pub async fn new_form(
    State(st): State<AppState>,
    ctx: WebCtx,
    Me(me): Me,
    Path(id): Path<ProjectId>,
) -> Result<Response, WebError> {
    let project = visible_project(&st, &me, id).await?;
    let f = NewInput {
        currency: "USD".into(),
        allowed: svc::offered(&st, &project)
            .iter()
            .map(|c| c.code.to_owned())
            .collect(),
        ..NewInput::default()
    };
    new_page(&st, &ctx, &project, &f, &FieldErrors::new(), None)
}

/// Parses the price: the amount exactly, within the bounds every price meets
/// ([`Price::fiat`], [`Price::crypto`]).
fn parse_price(
    tr: Tr,
    e: &mut FieldErrors,
    input: &NewInput,
    offered: &[&'static Crypto],
) -> Option<Price> {
    let amount = input.amount.trim();
    let code = input.currency.trim();
    let parsed = if let Some(fiat) = currency::fiat(code) {
        Price::fiat(fiat, amount)
    } else if let Some(c) = currency::crypto(code) {
        if !offered.iter().any(|o| o.code == c.code) {
            let msg = tr.f1("invoices.form.not_offered", "currency", &c.code);
            e.add_text("currency", msg);
        }
        Price::crypto(c, amount)
    } else {
        e.add(tr, "currency", "invoices.form.bad_currency");
        return None;
    };
    match parsed {
        Ok(p) => Some(p),
        Err(PriceError::NotANumber | PriceError::NotPositive) => {
            e.add(tr, "amount", "invoices.form.bad_amount");
            None
        }
        Err(PriceError::TooPrecise { decimals, .. }) => {
            let msg = tr.f1("invoices.form.too_precise", "decimals", &decimals);
            e.add_text("amount", msg);
            None
        }
        Err(PriceError::TooManyDigits) => {
            e.add(tr, "amount", "invoices.form.too_many_digits");
            None
        }
        Err(PriceError::TooLarge { code, max }) => {
            let msg = tr.f1("invoices.form.too_large", "max", &format!("{max} {code}"));
            e.add_text("amount", msg);
            None
        }
    }
}

/// Validates the creation form into a request, or errors next to the fields.
pub(super) fn parse_new(
    tr: Tr,
    input: &NewInput,
    offered: &[&'static Crypto],
) -> Result<NewInvoiceRequest, FieldErrors> {
    let mut e = FieldErrors::new();
    let price = parse_price(tr, &mut e, input, offered);
    let order_id = input.order_id.trim();
    if order_id.chars().count() > 200 {
        e.add(tr, "order_id", "invoices.form.order_id_long");
    }
    let description = input.description.trim();
    if description.chars().count() > 1000 {
        e.add(tr, "description", "invoices.form.description_long");
    }
    let email = match input.email.trim() {
        "" => {
            if input.send_link {
                e.add(tr, "email", "invoices.form.email_needed");
            }
            None
        }
        text => match Email::parse(text) {
            Ok(m) => Some(m),
            Err(err) => {
                e.add(tr, "email", email_error_key(err));
                None
            }
        },
    };
    let lifetime = match input.lifetime.trim() {
        "" => None,
        text => {
            let d = text
                .parse::<u64>()
                .ok()
                .and_then(|m| m.checked_mul(60))
                .map(Duration::from_secs)
                .filter(|d| (svc::LIFETIME_RANGE.0..=svc::LIFETIME_RANGE.1).contains(d));
            if d.is_none() {
                e.add(tr, "lifetime", "invoices.form.bad_lifetime");
            }
            d
        }
    };
    let mut allowed = Vec::new();
    for code in &input.allowed {
        match offered.iter().find(|c| c.code == code.as_str()) {
            Some(c) => allowed.push(*c),
            None => e.add(tr, "allowed", "invoices.form.bad_allowed"),
        }
    }
    if matches!(price, Some(Price::Fiat(..))) || currency::fiat(input.currency.trim()).is_some() {
        if offered.is_empty() {
            e.add(tr, "allowed", "invoices.form.none_offered");
        } else if input.allowed.is_empty() {
            e.add(tr, "allowed", "invoices.form.no_allowed");
        }
    }
    let Some(price) = price.filter(|_| e.is_empty()) else {
        return Err(e);
    };
    // Every currency ticked means "the project's", including ones it accepts later.
    if allowed.len() == offered.len() {
        allowed.clear();
    }
    let email = email.map(|m| m.as_str().to_owned());
    Ok(NewInvoiceRequest {
        price,
        order_id: order_id.to_owned(),
        email: email.clone().unwrap_or_default(),
        description: description.to_owned(),
        lifetime,
        allowed,
        preselect: None,
        locale: None,
        send_link_to: email.filter(|_| input.send_link),
        remind_every: None,
    })
}

/// `POST /projects/{id}/invoices/new`
pub async fn create(
    State(st): State<AppState>,
    ctx: WebCtx,
    Me(me): Me,
    Path(id): Path<ProjectId>,
    form: FormPairs,
) -> Result<Response, WebError> {
    let project = visible_project(&st, &me, id).await?;
    let tr = Tr::new(ctx.lang);
    let input = NewInput::parse(form);
    if project.archived_at.is_some() {
        return new_page(&st, &ctx, &project, &input, &FieldErrors::new(), None);
    }
    let offered = svc::offered(&st, &project);
    let req = match parse_new(tr, &input, &offered) {
        Ok(r) => r,
        Err(errors) => return new_page(&st, &ctx, &project, &input, &errors, None),
    };
    let mut errors = FieldErrors::new();
    let form_error = match svc::create_as(&st, &project, req, Some(&ctx.actor(&me))).await {
        Ok(row) => return Ok(back(&st, &project, &row, 's', "invoices.flash.created")),
        Err(InvoiceError::Archived) => "invoices.new.archived",
        Err(InvoiceError::CurrencyUnavailable(c) | InvoiceError::CurrencyNotAllowed(c)) => {
            errors.add_text(
                "currency",
                tr.f1("invoices.form.not_offered", "currency", &c),
            );
            "invoices.form.failed"
        }
        Err(InvoiceError::NoRate(_)) => "invoices.form.no_rate",
        Err(InvoiceError::Bound(b)) => {
            errors.add_text("amount", bound_text(tr, &b));
            "invoices.form.failed"
        }
        Err(InvoiceError::Quote(_)) => {
            errors.add(tr, "amount", "invoices.form.bad_amount");
            "invoices.form.failed"
        }
        Err(InvoiceError::Lifetime) => {
            errors.add(tr, "lifetime", "invoices.form.bad_lifetime");
            "invoices.form.failed"
        }
        Err(InvoiceError::Transition(_)) => "invoices.form.failed",
        Err(InvoiceError::Service(e)) => return Err(e.into()),
    };
    new_page(&st, &ctx, &project, &input, &errors, Some(form_error))
}
