//! Project services: creation with fresh keys, settings, the API key and postback secret,
//! the logo, going live, archiving, and which projects a staff member may see.

use std::io::Cursor;

use kassa_core::account::Section;
use kassa_core::invoice::{Side, Tolerance};
use kassa_core::lang::Lang;
use kassa_core::project::PostbackFormat;
use kassa_core::{MerchantId, ProjectId, UserId};
use kassa_store::projects::{self, NewProject, ProjectRow, ProjectSettings};
use kassa_store::{AsConn, StoreError};
use serde_json::json;

use crate::Ctx;
use crate::accounts::ServiceError;
use crate::audit::{Actor, Target};
use crate::auth::token;

const BASE62: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// `n` random characters from `alphabet`.
pub fn random_string(alphabet: &[u8], n: usize) -> String {
    (0..n)
        .map(|_| char::from(alphabet[rand::random_range(0..alphabet.len())]))
        .collect()
}

/// A new API key: 48 base62 characters (about 285 bits).
pub fn new_api_key() -> String {
    random_string(BASE62, 48)
}

/// A new postback secret key: 32 base62 characters.
pub fn new_secret_key() -> String {
    random_string(BASE62, 32)
}

fn secret_context(project: ProjectId) -> String {
    format!("project-secret:{project}")
}

/// The postback secret of a project, in clear.
pub fn secret_key(st: &Ctx, project: &ProjectRow) -> Result<String, ServiceError> {
    let bytes = st
        .keyring
        .open(&secret_context(project.id), &project.secret_key_sealed)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Keys shown once after creation or regeneration.
#[derive(Clone, Debug)]
pub struct Created {
    /// The project.
    pub id: ProjectId,
    /// Public shop id.
    pub shop_id: String,
    /// API key, in clear (only now).
    pub api_key: String,
    /// Postback secret, in clear.
    pub secret_key: String,
}

/// Default settings for a new project with `name`.
pub fn default_settings(name: &str) -> ProjectSettings {
    ProjectSettings {
        name: name.to_owned(),
        description: String::new(),
        site_url: String::new(),
        success_url: String::new(),
        fail_url: String::new(),
        notify_url: String::new(),
        postback_format: PostbackFormat::Json,
        brand_color: "#3b5bdb".into(),
        page_language: Lang::En,
        currencies: Vec::new(),
        service_fee_side: Side::Merchant,
        transfer_fee_side: Side::Merchant,
        invoice_lifetime_minutes: 24 * 60,
        tolerance: Tolerance::None,
        email_required: false,
    }
}

/// Creates a project in test mode with fresh keys.
pub async fn create(
    st: &Ctx,
    merchant: MerchantId,
    by: &Actor<'_>,
    settings: &ProjectSettings,
) -> Result<Created, ServiceError> {
    let now = st.clock.now();
    // A shop id or key collision is astronomically unlikely; retry rather than fail.
    for _ in 0..5 {
        let shop_id = random_string(BASE62, 16);
        let api_key = new_api_key();
        let secret = new_secret_key();
        let mut tx = st.db.begin().await?;
        // The secret is bound to the project id, known only after the insert: seal a
        // placeholder first, then the real value.
        let inserted = projects::insert(
            &mut tx,
            &NewProject {
                merchant_id: merchant,
                shop_id: &shop_id,
                settings,
                api_key_hash: &token::hash(&api_key),
                api_key_hint: &api_key[api_key.len() - 4..],
                secret_key_sealed: "",
            },
            now,
        )
        .await;
        let id = match inserted {
            Ok(id) => id,
            Err(e) if e.is_unique_violation() => continue,
            Err(e) => return Err(e.into()),
        };
        projects::set_secret_key(
            &mut tx,
            id,
            &st.keyring.seal(&secret_context(id), secret.as_bytes()),
            now,
        )
        .await?;
        by.record(
            &mut tx,
            merchant,
            "project.created",
            Target::Project(id),
            json!({"name": settings.name}),
            now,
        )
        .await?;
        tx.commit().await?;
        return Ok(Created {
            id,
            shop_id,
            api_key,
            secret_key: secret,
        });
    }
    Err(ServiceError::Store(StoreError::Corrupt {
        column: "project.shop_id",
        reason: "could not find a free shop id".into(),
    }))
}

/// Saves new settings, logging what changed.
pub async fn update(
    st: &Ctx,
    project: &ProjectRow,
    by: &Actor<'_>,
    settings: &ProjectSettings,
) -> Result<(), ServiceError> {
    let now = st.clock.now();
    let before = serde_json::to_value(SettingsView(&project.settings)).unwrap_or_default();
    let after = serde_json::to_value(SettingsView(settings)).unwrap_or_default();
    let mut tx = st.db.begin().await?;
    projects::update_settings(&mut tx, project.id, settings, now).await?;
    by.record(
        &mut tx,
        project.merchant_id,
        "project.updated",
        Target::Project(project.id),
        json!({"before": before, "after": after}),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

struct SettingsView<'a>(&'a ProjectSettings);

impl serde::Serialize for SettingsView<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let p = self.0;
        json!({
            "name": p.name, "description": p.description, "site_url": p.site_url, "success_url": p.success_url,
            "fail_url": p.fail_url, "notify_url": p.notify_url, "postback_format": p.postback_format.as_str(),
            "brand_color": p.brand_color, "page_language": p.page_language.code(), "currencies": p.currencies.join(","),
            "service_fee_side": p.service_fee_side.as_str(), "transfer_fee_side": p.transfer_fee_side.as_str(),
            "invoice_lifetime_minutes": p.invoice_lifetime_minutes, "tolerance_kind": p.tolerance.kind(),
            "tolerance_value": p.tolerance.value().to_string(), "email_required": p.email_required,
        })
        .serialize(s)
    }
}

/// Replaces the API key; returns the new one (shown once). The caller checks a recent
/// re-authentication.
pub async fn regenerate_api_key(
    st: &Ctx,
    project: &ProjectRow,
    by: &Actor<'_>,
) -> Result<String, ServiceError> {
    let now = st.clock.now();
    let key = new_api_key();
    let mut tx = st.db.begin().await?;
    projects::set_api_key(
        &mut tx,
        project.id,
        &token::hash(&key),
        &key[key.len() - 4..],
        now,
    )
    .await?;
    by.record(
        &mut tx,
        project.merchant_id,
        "project.api_key_regenerated",
        Target::Project(project.id),
        json!({"project": project.settings.name}),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(key)
}

/// Replaces the postback secret; returns the new one.
pub async fn regenerate_secret(
    st: &Ctx,
    project: &ProjectRow,
    by: &Actor<'_>,
) -> Result<String, ServiceError> {
    let now = st.clock.now();
    let secret = new_secret_key();
    let mut tx = st.db.begin().await?;
    projects::set_secret_key(
        &mut tx,
        project.id,
        &st.keyring
            .seal(&secret_context(project.id), secret.as_bytes()),
        now,
    )
    .await?;
    by.record(
        &mut tx,
        project.merchant_id,
        "project.secret_regenerated",
        Target::Project(project.id),
        json!({"project": project.settings.name}),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(secret)
}

/// Switches between test and live mode.
/// Why a project cannot go live.
#[derive(Debug, thiserror::Error)]
pub enum ModeError {
    /// No network takes live payments: the operator has to configure one.
    #[error("no network is set up for live payments yet")]
    NoLiveNetwork,
    /// Networks take live payments, but the project accepts none of their currencies.
    #[error("none of the project's currencies is on a network set up for live payments ({})", networks.join(", "))]
    NoLiveCurrency {
        /// The networks that take live payments.
        networks: Vec<&'static str>,
    },
    /// Something else failed.
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl From<StoreError> for ModeError {
    fn from(e: StoreError) -> Self {
        ModeError::Service(e.into())
    }
}

/// The crypto currencies a project offers for test (`test`) or live invoices: its accepted
/// list (or everything), restricted for live invoices to networks the operator runs. An
/// invoice keeps the mode it was made in, whatever the project switches to later.
pub fn offered_in_mode(
    st: &Ctx,
    project: &ProjectRow,
    test: bool,
) -> Vec<&'static kassa_core::currency::Crypto> {
    let accepted = &project.settings.currencies;
    kassa_core::currency::cryptos_in_order()
        .into_iter()
        .filter(|c| accepted.is_empty() || accepted.iter().any(|a| a.eq_ignore_ascii_case(c.code)))
        .filter(|c| test || st.pricing.live_crypto(c))
        .collect()
}

/// Whether `project` could take live payments: some currency it accepts is on a network the
/// operator has set up.
pub fn live_check(st: &Ctx, project: &ProjectRow) -> Result<(), ModeError> {
    if !st.pricing.any_live_network() {
        return Err(ModeError::NoLiveNetwork);
    }
    if offered_in_mode(st, project, false).is_empty() {
        let networks = kassa_core::currency::NETWORKS
            .iter()
            .filter(|n| st.pricing.live_network(n))
            .map(|n| n.code)
            .collect();
        return Err(ModeError::NoLiveCurrency { networks });
    }
    Ok(())
}

/// Switches a project to test mode, or live (only when [`live_check`] passes).
pub async fn set_test_mode(
    st: &Ctx,
    project: &ProjectRow,
    by: &Actor<'_>,
    test: bool,
) -> Result<(), ModeError> {
    if !test {
        live_check(st, project)?;
    }
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    projects::set_test_mode(&mut tx, project.id, test, now).await?;
    let action = if test {
        "project.test_mode_on"
    } else {
        "project.went_live"
    };
    by.record(
        &mut tx,
        project.merchant_id,
        action,
        Target::Project(project.id),
        json!({"before": {"test_mode": project.test_mode}, "after": {"test_mode": test}}),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Archives (or restores) a project; archived projects take no new invoices.
pub async fn set_archived(
    st: &Ctx,
    project: &ProjectRow,
    by: &Actor<'_>,
    archived: bool,
) -> Result<(), ServiceError> {
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    projects::set_archived(&mut tx, project.id, archived.then_some(now), now).await?;
    let action = if archived {
        "project.archived"
    } else {
        "project.restored"
    };
    by.record(
        &mut tx,
        project.merchant_id,
        action,
        Target::Project(project.id),
        json!({}),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Largest logo file accepted.
pub const LOGO_MAX_BYTES: usize = 2 * 1024 * 1024;
const LOGO_MAX_SIDE: u32 = 4096;
/// Most memory one decode may take: a 4096 × 4096 image at 8 bits per RGBA channel. Deeper or
/// larger images are refused from their header, before anything is allocated.
const LOGO_MAX_DECODED: u64 = 4096 * 4096 * 4;
const LOGO_STORED_SIDE: u32 = 512;

/// Why a logo was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LogoError {
    /// Over 2 MB.
    #[error("the file is larger than 2 MB")]
    TooLarge,
    /// Not a PNG or JPEG (SVG and anything else are refused).
    #[error("only PNG and JPEG images are accepted")]
    NotAnImage,
    /// The file claims to be an image but does not decode (damaged, or a disguised file).
    #[error("the image could not be read")]
    Broken,
    /// Too many pixels, or too many bits per pixel, to decode within the memory allowed.
    #[error("the image is larger than 4096 × 4096 pixels at 8 bits per channel")]
    TooManyPixels,
}

/// Validates an uploaded logo by decoding it (PNG or JPEG only, judged by content, not by
/// name), and re-encodes it as a PNG of at most 512 px a side: whatever else the file carried
/// (metadata, a second format appended as a polyglot) is not kept. CPU- and memory-heavy: call
/// it through [`Ctx::heavy`](crate::Ctx), never on an async thread.
pub fn process_logo(bytes: &[u8]) -> Result<Vec<u8>, LogoError> {
    if bytes.len() > LOGO_MAX_BYTES {
        return Err(LogoError::TooLarge);
    }
    let format = image::guess_format(bytes).map_err(|_| LogoError::NotAnImage)?;
    if !matches!(format, image::ImageFormat::Png | image::ImageFormat::Jpeg) {
        return Err(LogoError::NotAnImage);
    }
    let mut reader = image::ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(LOGO_MAX_SIDE);
    limits.max_image_height = Some(LOGO_MAX_SIDE);
    limits.max_alloc = Some(LOGO_MAX_DECODED);
    reader.limits(limits);
    let img = reader.decode().map_err(|e| match e {
        image::ImageError::Limits(_) => LogoError::TooManyPixels,
        _ => LogoError::Broken,
    })?;
    let img = if img.width() > LOGO_STORED_SIDE || img.height() > LOGO_STORED_SIDE {
        // Sampling straight into the small image: no full-size intermediate buffer.
        img.thumbnail(LOGO_STORED_SIDE, LOGO_STORED_SIDE)
    } else {
        img
    };
    let mut out = Vec::new();
    img.write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
        .map_err(|_| LogoError::Broken)?;
    Ok(out)
}

/// Stores a processed logo (or removes it).
pub async fn set_logo(
    st: &Ctx,
    project: &ProjectRow,
    by: &Actor<'_>,
    png: Option<&[u8]>,
) -> Result<(), ServiceError> {
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    projects::set_logo(&mut tx, project.id, png, now).await?;
    let action = if png.is_some() {
        "project.logo_changed"
    } else {
        "project.logo_removed"
    };
    by.record(
        &mut tx,
        project.merchant_id,
        action,
        Target::Project(project.id),
        json!({}),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The projects a user may see: all of their merchant's, or those the owner limited them to.
pub async fn visible_to(
    conn: &mut impl AsConn,
    merchant: MerchantId,
    user: UserId,
    section_owner: bool,
) -> Result<Vec<ProjectRow>, StoreError> {
    let all = projects::of_merchant(conn, merchant).await?;
    if section_owner {
        return Ok(all);
    }
    let scope = projects::scope_of(conn, user).await?;
    Ok(if scope.is_empty() {
        all
    } else {
        all.into_iter().filter(|p| scope.contains(&p.id)).collect()
    })
}

/// Whether a user may see `project` (their scope allows it); another merchant's project is
/// "not found" for everyone.
pub async fn may_see(
    conn: &mut impl AsConn,
    user: UserId,
    is_owner: bool,
    project: ProjectId,
) -> Result<bool, StoreError> {
    projects::may_see(conn, user, is_owner, project).await
}

/// The section a project page needs (for the access table).
pub const VIEW: Section = Section::ViewProjects;

#[cfg(test)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32) -> Vec<u8> {
        let img = image::RgbaImage::from_pixel(w, h, image::Rgba([10, 20, 30, 255]));
        let mut out = Vec::new();
        image::DynamicImage::ImageRgba8(img)
            .write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
            .unwrap();
        out
    }

    #[test]
    fn logos_are_decoded_and_reencoded() {
        let out = process_logo(&png(40, 20)).unwrap();
        assert_eq!(image::guess_format(&out).unwrap(), image::ImageFormat::Png);
        // Big images are scaled down to 512 px.
        let big = process_logo(&png(1024, 256)).unwrap();
        let decoded = image::load_from_memory(&big).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (512, 128));
        // A polyglot (a PNG followed by HTML) comes out as a plain PNG without the payload.
        let mut poly = png(10, 10);
        poly.extend_from_slice(b"<html><script>alert(1)</script></html>");
        let clean = process_logo(&poly).unwrap();
        assert!(!clean.windows(7).any(|w| w == b"<script"));
    }

    #[test]
    fn svg_junk_and_oversize_are_refused() {
        assert_eq!(
            process_logo(b"<svg xmlns='http://www.w3.org/2000/svg'><script/></svg>"),
            Err(LogoError::NotAnImage)
        );
        assert_eq!(process_logo(b"GIF89a......"), Err(LogoError::NotAnImage));
        let mut truncated = png(100, 100);
        truncated.truncate(60);
        assert_eq!(process_logo(&truncated), Err(LogoError::Broken));
        assert_eq!(
            process_logo(&vec![0u8; LOGO_MAX_BYTES + 1]),
            Err(LogoError::TooLarge)
        );
        // A header claiming 20000 × 20000 pixels is refused before decoding it.
        let mut bomb = png(1, 1);
        bomb[16..20].copy_from_slice(&20_000u32.to_be_bytes());
        bomb[20..24].copy_from_slice(&20_000u32.to_be_bytes());
        assert!(matches!(
            process_logo(&bomb),
            Err(LogoError::TooManyPixels | LogoError::Broken)
        ));
    }
}
