//! Driving the real `kassa` binary: start `kassa serve` as a child process, read the address
//! it prints, signal it, and collect its output.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The `kassa` binary under test.
pub fn kassa() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kassa"));
    // Only what the test sets: no configuration leaks in from the developer's environment.
    for (k, _) in std::env::vars() {
        if k.starts_with("KASSA_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("RUST_LOG", "info");
    cmd
}

/// Runs `kassa` with `args` in `dir` and waits for it.
pub fn run_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = kassa();
    cmd.current_dir(dir).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run kassa")
}

/// A `kassa serve` child process.
pub struct Server {
    /// The process.
    pub child: Child,
    /// The base URL it printed.
    pub url: String,
}

impl Server {
    /// Starts `kassa serve` with `args` in `dir` and waits until it prints its address.
    pub fn start(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Server {
        let mut cmd = kassa();
        cmd.current_dir(dir)
            .arg("serve")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn kassa serve");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| {
                let status = child.try_wait().ok().flatten();
                panic!("kassa serve printed nothing within 30 s (exit status {status:?})")
            });
        // "Kassa is running at <public url>  (listening on <addr>, data in <dir>)"
        let addr = line
            .split("listening on ")
            .nth(1)
            .and_then(|r| r.split(',').next())
            .unwrap_or_else(|| panic!("unexpected first line: {line}"));
        Server {
            child,
            url: format!("http://{addr}"),
        }
    }

    /// Sends SIGTERM (graceful shutdown) and waits up to 30 s for the exit.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "kassa serve did not stop within 30 s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL: the process dies at once, with no chance to clean up.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// What a merchant's setup script does with the CLI: `admin create-user` (the test password on
/// standard input) and `admin create-project` with `notify_url` and form postbacks. Returns the
/// project's keys (`shop_id`, `api_key`, `secret_key`) as printed.
pub fn scripted_shop(
    dir: &Path,
    env: &[(&str, &str)],
    email: &str,
    notify_url: &str,
) -> serde_json::Value {
    let mut cmd = kassa();
    cmd.current_dir(dir)
        .args([
            "admin",
            "create-user",
            "--email",
            email,
            "--business",
            "CI Shop",
        ])
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn kassa admin create-user");
    {
        use std::io::Write as _;
        let mut stdin = child.stdin.take().expect("stdin");
        writeln!(stdin, "{}", super::accounts::PASSWORD).expect("write the password");
    }
    let out = child.wait_with_output().expect("kassa admin create-user");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let args = [
        "admin",
        "create-project",
        "--owner",
        email,
        "--name",
        "CI Shop",
        "--notify-url",
        notify_url,
        "--postback-format",
        "form",
    ];
    let out = run_in(dir, &args, env);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).expect("UTF-8");
    assert_eq!(
        stdout.trim().lines().count(),
        1,
        "one JSON object: {stdout}"
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}
