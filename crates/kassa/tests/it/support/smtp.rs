//! A real SMTP listener on loopback for tests: it speaks enough of RFC 5321 for lettre
//! (EHLO, MAIL, RCPT, DATA with dot-unstuffing, RSET, NOOP, QUIT), keeps every message, and
//! decodes the text part so tests can read links.

use std::sync::{Arc, Mutex};

use base64::Engine as _;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// A received message.
#[derive(Clone, Debug)]
pub struct Received {
    /// Envelope recipients.
    pub rcpt: Vec<String>,
    /// The `Subject` header (decoded if it was RFC 2047-encoded).
    pub subject: String,
    /// The decoded `text/plain` part.
    pub text: String,
}

impl Received {
    /// The first link in the text that starts with `prefix`.
    pub fn link(&self, prefix: &str) -> String {
        self.text
            .split_whitespace()
            .find(|w| w.starts_with(prefix))
            .unwrap_or_else(|| panic!("no link starting with {prefix} in:\n{}", self.text))
            .trim_end_matches(['.', ',', ')'])
            .to_owned()
    }
}

/// The listener and what it received.
#[derive(Clone)]
pub struct SmtpSink {
    /// Port on 127.0.0.1.
    pub port: u16,
    messages: Arc<Mutex<Vec<Received>>>,
}

impl SmtpSink {
    /// Starts listening on a free port.
    pub async fn start() -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind smtp");
        let port = listener.local_addr().expect("addr").port();
        let messages: Arc<Mutex<Vec<Received>>> = Arc::default();
        let store = messages.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let store = store.clone();
                tokio::spawn(async move {
                    let _ = session(stream, store).await;
                });
            }
        });
        SmtpSink { port, messages }
    }

    /// `smtp://127.0.0.1:<port>` for `mail.smtp_url`.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message so far.
    pub fn all(&self) -> Vec<Received> {
        self.messages.lock().expect("lock").clone()
    }

    /// Messages to `to`.
    pub fn to(&self, to: &str) -> Vec<Received> {
        self.all()
            .into_iter()
            .filter(|m| m.rcpt.iter().any(|r| r == to))
            .collect()
    }

    /// The newest message to `to`.
    pub fn last_to(&self, to: &str) -> Received {
        self.to(to).pop().unwrap_or_else(|| {
            panic!(
                "no e-mail to {to}; have: {:?}",
                self.all()
                    .iter()
                    .map(|m| (&m.rcpt, &m.subject))
                    .collect::<Vec<_>>()
            )
        })
    }
}

async fn session(
    stream: tokio::net::TcpStream,
    store: Arc<Mutex<Vec<Received>>>,
) -> std::io::Result<()> {
    let (r, mut w) = stream.into_split();
    let mut lines = BufReader::new(r);
    w.write_all(b"220 kassa-test-sink ESMTP\r\n").await?;
    let mut rcpt = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let cmd = line.trim_end().to_ascii_uppercase();
        if cmd.starts_with("EHLO") {
            w.write_all(b"250-kassa-test-sink\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n")
                .await?;
        } else if cmd.starts_with("HELO") || cmd.starts_with("NOOP") {
            w.write_all(b"250 ok\r\n").await?;
        } else if cmd.starts_with("MAIL FROM") {
            rcpt.clear();
            w.write_all(b"250 ok\r\n").await?;
        } else if cmd.starts_with("RCPT TO") {
            let addr = line
                .trim_end()
                .split_once(':')
                .map_or("", |(_, a)| a)
                .trim()
                .trim_start_matches('<');
            let addr = addr.split('>').next().unwrap_or_default().to_owned();
            rcpt.push(addr);
            w.write_all(b"250 ok\r\n").await?;
        } else if cmd == "DATA" {
            w.write_all(b"354 go ahead\r\n").await?;
            let mut raw = String::new();
            loop {
                line.clear();
                if lines.read_line(&mut line).await? == 0 {
                    return Ok(());
                }
                if line == ".\r\n" || line == ".\n" {
                    break;
                }
                raw.push_str(line.strip_prefix('.').unwrap_or(&line));
            }
            let (subject, text) = parse(&raw);
            store.lock().expect("lock").push(Received {
                rcpt: rcpt.clone(),
                subject,
                text,
            });
            w.write_all(b"250 queued\r\n").await?;
        } else if cmd.starts_with("RSET") {
            rcpt.clear();
            w.write_all(b"250 ok\r\n").await?;
        } else if cmd.starts_with("QUIT") {
            w.write_all(b"221 bye\r\n").await?;
            return Ok(());
        } else {
            w.write_all(b"502 not implemented\r\n").await?;
        }
    }
}

/// Subject and decoded text/plain body of a message.
pub fn parse(raw: &str) -> (String, String) {
    let raw = raw.replace("\r\n", "\n");
    let (head, _) = raw.split_once("\n\n").unwrap_or((&raw, ""));
    let head = head.replace("\n ", " ").replace("\n\t", " ");
    let subject = head
        .lines()
        .find_map(|l| l.strip_prefix("Subject: "))
        .map(decode_header)
        .unwrap_or_default();
    // Find the text/plain part: its headers, a blank line, then the body up to the boundary.
    let idx = raw.find("Content-Type: text/plain").unwrap_or(0);
    let part = &raw[idx..];
    let (part_head, body) = part.split_once("\n\n").unwrap_or((part, ""));
    let body = body.split("\n--").next().unwrap_or_default();
    let encoding = part_head.to_ascii_lowercase();
    let text = if encoding.contains("content-transfer-encoding: base64") {
        let joined: String = body.split_whitespace().collect();
        String::from_utf8_lossy(
            &base64::engine::general_purpose::STANDARD
                .decode(joined)
                .unwrap_or_default(),
        )
        .into_owned()
    } else if encoding.contains("content-transfer-encoding: quoted-printable") {
        decode_qp(body)
    } else {
        body.to_owned()
    };
    (subject, text)
}

fn decode_qp(s: &str) -> String {
    let joined = s.replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && i + 2 < bytes.len()
            && let Some(b) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn decode_header(v: &str) -> String {
    // =?utf-8?b?...?= words, possibly several.
    let mut out = String::new();
    for word in v.split_whitespace() {
        if let Some(inner) = word.strip_prefix("=?").and_then(|w| w.strip_suffix("?=")) {
            let mut parts = inner.splitn(3, '?');
            let (_, enc, data) = (
                parts.next(),
                parts.next().unwrap_or_default(),
                parts.next().unwrap_or_default(),
            );
            let decoded = if enc.eq_ignore_ascii_case("b") {
                String::from_utf8_lossy(
                    &base64::engine::general_purpose::STANDARD
                        .decode(data)
                        .unwrap_or_default(),
                )
                .into_owned()
            } else {
                decode_qp(&data.replace('_', " "))
            };
            out.push_str(&decoded);
        } else {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(word);
        }
    }
    out
}
