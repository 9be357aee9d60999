//! Outgoing e-mail. A message is rendered (text and HTML, in the recipient's language) when
//! it is decided, and enqueued as a `mail.send` job in the same transaction as its cause. The
//! rendered content is sealed with the master key inside the job, because messages carry
//! credentials (reset and confirmation links). The job delivers through SMTP when
//! `mail.smtp_url` is set, otherwise it writes an `.eml` file to `<data_dir>/outbox/`.

mod render;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use kassa_core::Timestamp;
use kassa_core::retry::RetryPolicy;
use kassa_core::secret::Keyring;
use kassa_store::{AsConn, StoreError};
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport as _, Tokio1Executor};
use serde::{Deserialize, Serialize};

use crate::config::{MailSettings, SettingError};
use crate::i18n::Tr;
use crate::worker::{self, BoxFuture, Job, JobContext, JobError, JobHandler};

/// A message, rendered from a [`Letter`].
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Mail {
    /// Recipient address.
    pub to: String,
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub text: String,
    /// HTML body.
    pub html: String,
}

/// What a message says, before rendering: a heading, paragraphs, an optional button (a link)
/// and a closing note. Every account e-mail has this shape.
#[derive(Clone, Debug, Default)]
pub struct Letter {
    /// Subject and heading.
    pub subject: String,
    /// Paragraphs of text.
    pub paragraphs: Vec<String>,
    /// Button label and link.
    pub action: Option<(String, String)>,
    /// Small print at the end.
    pub footer: String,
}

impl Letter {
    /// Renders the letter for `to`, as plain text and as HTML (every piece of text escaped).
    pub fn render(&self, to: &str, tr: Tr) -> Mail {
        Mail {
            to: to.to_owned(),
            subject: self.subject.clone(),
            text: render::text(self),
            html: render::html(self, tr.lang.code()),
        }
    }
}

/// The `mail.send` job.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SendMail {
    /// Recipient, in clear so the operator can see where a stuck message goes.
    pub to: String,
    /// The [`Mail`] as JSON, sealed with the master key.
    pub sealed: String,
}

impl Job for SendMail {
    const KIND: &'static str = "mail.send";
}

fn seal_context(to: &str) -> String {
    format!("mail:{to}")
}

/// Enqueues `mail` in the caller's transaction.
pub async fn enqueue(
    conn: &mut impl AsConn,
    keyring: &Keyring,
    mail: &Mail,
    now: Timestamp,
) -> Result<(), StoreError> {
    let json = serde_json::to_vec(mail).map_err(|e| StoreError::Corrupt {
        column: "job.payload",
        reason: e.to_string(),
    })?;
    let job = SendMail {
        to: mail.to.clone(),
        sealed: keyring.seal(&seal_context(&mail.to), &json),
    };
    worker::enqueue(conn, &job, now, now).await?;
    Ok(())
}

/// Where messages go.
enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Outbox(PathBuf),
}

/// Delivers `mail.send` jobs.
pub struct MailHandler {
    transport: Transport,
    keyring: Arc<Keyring>,
    from: Mailbox,
}

impl MailHandler {
    /// Builds the handler from the settings: SMTP, or the outbox folder under `data_dir`.
    pub fn new(
        mail: &MailSettings,
        data_dir: &std::path::Path,
        keyring: Arc<Keyring>,
    ) -> Result<Self, SettingError> {
        let from: Mailbox = mail
            .from
            .parse()
            .map_err(|e: lettre::address::AddressError| {
                SettingError::new("mail.from", e.to_string())
            })?;
        let url = mail.smtp_url.expose();
        let transport = if url.is_empty() {
            Transport::Outbox(data_dir.join("outbox"))
        } else {
            let t = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                .map_err(|e| SettingError::new("mail.smtp_url", e.to_string()))?
                .timeout(Some(Duration::from_secs(30)))
                .build();
            Transport::Smtp(t)
        };
        Ok(Self {
            transport,
            keyring,
            from,
        })
    }

    async fn deliver(&self, ctx: &JobContext, payload: &str) -> Result<(), JobError> {
        let job: SendMail = worker::parse_payload(payload)?;
        let json = self
            .keyring
            .open(&seal_context(&job.to), &job.sealed)
            .map_err(|e| JobError::Permanent(format!("cannot open the sealed message: {e}")))?;
        let mail: Mail = serde_json::from_slice(&json)
            .map_err(|e| JobError::Permanent(format!("bad message: {e}")))?;
        let to: Mailbox = mail
            .to
            .parse()
            .map_err(|e| JobError::Permanent(format!("bad recipient {:?}: {e}", mail.to)))?;
        let message = lettre::Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject)
            .multipart(MultiPart::alternative_plain_html(mail.text, mail.html))
            .map_err(|e| JobError::Permanent(format!("cannot build the message: {e}")))?;
        match &self.transport {
            Transport::Smtp(smtp) => match smtp.send(message).await {
                Ok(_) => Ok(()),
                Err(e) if e.is_permanent() => Err(JobError::Permanent(format!(
                    "SMTP refused the message: {e}"
                ))),
                Err(e) => Err(JobError::Retry(format!("SMTP delivery failed: {e}"))),
            },
            Transport::Outbox(dir) => {
                let bytes = message.formatted();
                let dir = dir.clone();
                let name = format!("{}-{}.eml", ctx.created_at.as_micros(), ctx.id);
                tokio::task::spawn_blocking(move || write_eml(&dir, &name, &bytes))
                    .await
                    .map_err(|e| JobError::Retry(e.to_string()))?
                    .map_err(|e| JobError::Retry(format!("cannot write to the outbox: {e}")))
            }
        }
    }
}

fn write_eml(dir: &std::path::Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, dir.join(name))
}

impl JobHandler for MailHandler {
    fn kind(&self) -> &'static str {
        SendMail::KIND
    }

    /// Mail servers recover within hours: retry for two days, at most every 30 minutes.
    fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy {
            base: Duration::from_secs(30),
            cap: Duration::from_secs(1800),
            max_attempts: 200,
            deadline: Some(Duration::from_secs(2 * 24 * 3600)),
        }
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(60)
    }

    fn run<'a>(
        &'a self,
        ctx: &'a JobContext,
        payload: &'a str,
    ) -> BoxFuture<'a, Result<(), JobError>> {
        Box::pin(self.deliver(ctx, payload))
    }
}

#[cfg(test)]
mod tests {
    use kassa_core::account::Email;
    use lettre::Address;
    use proptest::prelude::*;

    /// Every address `Email::parse` accepts, the transport takes as an ASCII envelope address
    /// (no SMTPUTF8 needed), so an accepted address never fails its mail job for its syntax.
    fn check(input: &str) -> Result<(), TestCaseError> {
        if let Ok(e) = Email::parse(input) {
            prop_assert!(e.as_str().is_ascii(), "{e} is not ASCII");
            prop_assert!(
                e.as_str().parse::<Address>().is_ok(),
                "lettre refuses {e} (from {input:?})"
            );
        }
        Ok(())
    }

    #[test]
    fn reported_addresses() {
        for a in [
            "😀@example.com",
            "Info@Магазин.РФ",
            "a+b@x.io",
            "x@xn--p1ai.xn--p1ai",
        ] {
            check(a).unwrap();
        }
        assert!(Email::parse("😀@example.com").is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

        #[test]
        fn accepted_addresses_are_deliverable(
            local in "[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~\"(),:;<>@\\[\\] \\\\ёж😀-]{0,20}",
            domain in "[a-zA-Z0-9.\\-_ёжрф😀\\[\\]:]{0,30}",
        ) {
            check(&format!("{local}@{domain}"))?;
        }

        #[test]
        fn any_text_is_safe(s in "\\PC{0,80}") {
            check(&s)?;
        }
    }
}
