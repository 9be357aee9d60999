//! `kassa bench logo-upload`: eight large logos uploaded at once through the dashboard, while a
//! prober asks `/healthz` every 10 ms and a sampler reads the process's resident memory every
//! 5 ms. Two images: a 130 KB PNG of 4096 × 4096 pixels at 16 bits per channel (the security
//! review's "bomb": 128 MB once decoded) and the largest image Kassa accepts (4096 × 4096 at
//! 8 bits, 64 MB decoded). Decoding runs on blocking threads one at a time, so `/healthz`
//! should stay fast and memory should grow by about one decode.

use std::io::Cursor;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Args;
use kassa_server::config::{LogFormat, LogSettings, Settings};
use kassa_service::accounts::{self, LogIn};
use kassa_store::Engine;

use super::{InProcess, Scratch, cores, merchant_project, percentile, profile};

/// `/healthz` p99 while uploads run, in milliseconds.
const TARGET_P99_MS: f64 = 50.0;
/// Growth of resident memory while uploads run, in MiB.
const TARGET_RSS_MIB: f64 = 100.0;

/// Options of `kassa bench logo-upload`.
#[derive(Args, Debug)]
pub struct LogoUploadArgs {
    /// Uploads sent at once.
    #[arg(long, default_value_t = 8)]
    parallel: usize,
    /// Rounds of `--parallel` uploads per image.
    #[arg(long, default_value_t = 2)]
    rounds: usize,
}

/// One image to upload.
struct Image {
    label: &'static str,
    png: Vec<u8>,
}

fn images() -> anyhow::Result<Vec<Image>> {
    let encode = |img: image::DynamicImage| -> anyhow::Result<Vec<u8>> {
        let mut out = Vec::new();
        img.write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
            .context("encoding the test image")?;
        Ok(out)
    };
    let bomb = encode(image::DynamicImage::ImageRgba16(image::ImageBuffer::new(
        4096, 4096,
    )))?;
    let largest = encode(image::DynamicImage::ImageRgba8(
        image::ImageBuffer::from_fn(4096, 4096, |x, y| {
            image::Rgba([(x % 251) as u8, (y % 241) as u8, 90, 255])
        }),
    ))?;
    Ok(vec![
        Image {
            label: "16-bit 4096×4096 (refused)",
            png: bomb,
        },
        Image {
            label: "8-bit 4096×4096 (accepted)",
            png: largest,
        },
    ])
}

pub(super) async fn run(base: Settings, args: LogoUploadArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        (1..=64).contains(&args.parallel),
        "--parallel: give 1 to 64"
    );
    kassa_server::telemetry::init(&LogSettings {
        format: LogFormat::Text,
        level: "warn".into(),
    });
    kassa_service::net::install_tls_provider();
    let images = images()?;
    let db = Scratch::new(Engine::Sqlite, "").await?;
    let server = InProcess::start(InProcess::settings(&base, db.dir.path(), &db.url)).await?;
    let result = measure(&server, &images, &args).await;
    server.stop().await;
    db.finish().await;
    let lines = result?;
    println!(
        "kassa bench logo-upload: {} uploads at once, {} round(s) per image; {} CPU core(s); {} build",
        args.parallel,
        args.rounds,
        cores(),
        profile()
    );
    println!(
        "{:<28} {:>7} {:>8} {:>9} {:>9} {:>9} {:>10}  result",
        "image", "size", "wall s", "hz p50", "hz p99", "hz max", "RSS +MiB"
    );
    let mut pass = true;
    for l in &lines {
        let ok = l.p99_ms < TARGET_P99_MS && l.rss_growth_mib < TARGET_RSS_MIB;
        pass &= ok;
        println!(
            "{:<28} {:>6}K {:>8.2} {:>9.1} {:>9.1} {:>9.1} {:>10.1}  {} ({})",
            l.label,
            l.size / 1024,
            l.wall.as_secs_f64(),
            l.p50_ms,
            l.p99_ms,
            l.max_ms,
            l.rss_growth_mib,
            if ok { "PASS" } else { "FAIL" },
            l.outcome
        );
    }
    println!(
        "target: /healthz p99 < {TARGET_P99_MS:.0} ms and resident memory growth < {TARGET_RSS_MIB:.0} MiB while uploads run"
    );
    anyhow::ensure!(pass, "below target");
    Ok(())
}

/// The outcome for one image.
struct Line {
    label: &'static str,
    size: usize,
    wall: Duration,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    rss_growth_mib: f64,
    outcome: String,
}

async fn measure(
    server: &InProcess,
    images: &[Image],
    args: &LogoUploadArgs,
) -> anyhow::Result<Vec<Line>> {
    let state = &server.state;
    let shop = merchant_project(state).await?;
    let mut c = state.db.conn().await?;
    let project = kassa_store::projects::by_shop_id(&mut c, &shop.shop_id)
        .await?
        .context("the benchmark project")?;
    drop(c);
    // A dashboard session for the owner, made by the sign-in service itself.
    let client_info = accounts::Client {
        ip: "127.0.0.1".into(),
        user_agent: "kassa bench".into(),
    };
    let LogIn::SignedIn(token) = accounts::log_in(
        state,
        shop.email.as_str(),
        &shop.password,
        &client_info,
        None,
    )
    .await?
    else {
        anyhow::bail!("the benchmark owner could not sign in");
    };
    let csrf = kassa_server::web::context::csrf_token(state, &token);
    let cookie = format!(
        "{}={token}",
        state.cookies.name(kassa_server::web::cookies::SESSION)
    );
    let url = format!(
        "http://{}/projects/{}/logo?_csrf={csrf}",
        server.addr,
        project.id.get()
    );
    let health = format!("http://{}/healthz", server.addr);
    let http = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(120))
        .build()?;

    let mut lines = Vec::new();
    for img in images {
        let body = multipart(&img.png);
        // Settle, then take the baseline.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let baseline = super::rss_kib();
        let peak = Arc::new(AtomicU64::new(baseline));
        let done = Arc::new(AtomicBool::new(false));
        let sampler = {
            let (peak, done) = (peak.clone(), done.clone());
            tokio::task::spawn_blocking(move || {
                while !done.load(Ordering::Relaxed) {
                    peak.fetch_max(super::rss_kib(), Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(5));
                }
            })
        };
        let prober = {
            let (http, health, done) = (http.clone(), health.clone(), done.clone());
            tokio::spawn(async move {
                let mut times = Vec::new();
                while !done.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    let ok = http
                        .get(&health)
                        .send()
                        .await
                        .is_ok_and(|r| r.status().is_success());
                    times.push(if ok {
                        u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX)
                    } else {
                        u64::MAX
                    });
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                times
            })
        };
        let started = Instant::now();
        let mut outcomes = std::collections::BTreeMap::<String, usize>::new();
        for _ in 0..args.rounds {
            let mut uploads = tokio::task::JoinSet::new();
            for _ in 0..args.parallel {
                let (http, url, cookie, body) =
                    (http.clone(), url.clone(), cookie.clone(), body.clone());
                uploads.spawn(async move {
                    let r = http
                        .post(&url)
                        .header(reqwest::header::COOKIE, cookie)
                        .header(
                            reqwest::header::CONTENT_TYPE,
                            "multipart/form-data; boundary=kassabench",
                        )
                        .body(body)
                        .send()
                        .await;
                    match r {
                        Ok(r) => {
                            let flash = r
                                .headers()
                                .get_all(reqwest::header::SET_COOKIE)
                                .iter()
                                .filter_map(|v| v.to_str().ok())
                                .find_map(|v| v.strip_prefix("kassa_flash="))
                                .and_then(|v| v.split(';').next())
                                .unwrap_or("")
                                .to_owned();
                            format!("{} {flash}", r.status().as_u16())
                        }
                        Err(e) => format!("error: {e}"),
                    }
                });
            }
            while let Some(r) = uploads.join_next().await {
                *outcomes
                    .entry(r.unwrap_or_else(|e| format!("task failed: {e}")))
                    .or_default() += 1;
            }
        }
        let wall = started.elapsed();
        done.store(true, Ordering::Relaxed);
        let mut times = prober.await.context("the /healthz prober")?;
        let _ = sampler.await;
        times.sort_unstable();
        let ms = |p: f64| percentile(&times, p).map_or(f64::NAN, |us| us as f64 / 1000.0);
        let growth = peak.load(Ordering::Relaxed).saturating_sub(baseline);
        lines.push(Line {
            label: img.label,
            size: img.png.len(),
            wall,
            p50_ms: ms(0.5),
            p99_ms: ms(0.99),
            max_ms: ms(1.0),
            rss_growth_mib: growth as f64 / 1024.0,
            outcome: outcomes
                .iter()
                .map(|(k, n)| format!("{n}× {k}"))
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    Ok(lines)
}

fn multipart(png: &[u8]) -> Vec<u8> {
    let mut body = b"--kassabench\r\nContent-Disposition: form-data; name=\"logo\"; filename=\"logo.png\"\r\nContent-Type: image/png\r\n\r\n".to_vec();
    body.extend_from_slice(png);
    body.extend_from_slice(b"\r\n--kassabench--\r\n");
    body
}
