//! Embeds every migration file into the binary: `migrations/<engine>/<version>_<name>.sql`
//! becomes an entry of `SQLITE` or `POSTGRES` in `$OUT_DIR/migrations.rs`.

#![expect(
    clippy::panic,
    reason = "a build script reports its errors by panicking"
)]

use std::fmt::Write as _;
use std::path::Path;
use std::{env, fs};

fn main() {
    let root = Path::new(&env::var("CARGO_MANIFEST_DIR").unwrap_or_default()).join("migrations");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut out = String::new();
    for (engine, konst) in [("sqlite", "SQLITE"), ("postgres", "POSTGRES")] {
        let dir = root.join(engine);
        println!("cargo:rerun-if-changed={}", dir.display());
        let mut files: Vec<_> = fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "sql"))
            .collect();
        files.sort();
        let _ = writeln!(
            out,
            "/// Migrations for {engine}: (version, description, SQL)."
        );
        let _ = writeln!(out, "pub const {konst}: &[(i64, &str, &str)] = &[");
        for path in files {
            let stem = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default();
            let (version, name) = stem.split_once('_').unwrap_or_else(|| {
                panic!(
                    "migration {} must be named <version>_<name>.sql",
                    path.display()
                )
            });
            let version: i64 = version.parse().unwrap_or_else(|_| {
                panic!("migration {} must start with a number", path.display())
            });
            let _ = writeln!(
                out,
                "    ({version}, {name:?}, include_str!({:?})),",
                path.display().to_string()
            );
        }
        let _ = writeln!(out, "];");
    }
    let dest = Path::new(&env::var("OUT_DIR").unwrap_or_default()).join("migrations.rs");
    fs::write(&dest, out).unwrap_or_else(|e| panic!("cannot write {}: {e}", dest.display()));
}
