//! Embeds every icon under `assets/icons/` as `ICONS: &[(path, svg)]` in
//! `$OUT_DIR/icons.rs`, so adding an icon file is all it takes.

use std::fmt::Write as _;
use std::path::Path;
use std::{env, fs};

fn main() {
    let root = Path::new(&env::var("CARGO_MANIFEST_DIR").unwrap_or_default()).join("assets");
    let icons = root.join("icons");
    println!("cargo:rerun-if-changed={}", icons.display());
    let mut entries = Vec::new();
    for kind in ["coin", "network"] {
        let dir = icons.join(kind);
        println!("cargo:rerun-if-changed={}", dir.display());
        let Ok(read) = fs::read_dir(&dir) else {
            continue;
        };
        for e in read.filter_map(Result::ok) {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "svg")
                && let Some(name) = p.file_name().and_then(|n| n.to_str())
            {
                entries.push((format!("icons/{kind}/{name}"), p.display().to_string()));
            }
        }
    }
    entries.sort();
    let mut out = String::from(
        "/// Currency and network icons: (path under /assets/, SVG).\npub static ICONS: &[(&str, &str)] = &[\n",
    );
    for (name, path) in entries {
        let _ = writeln!(out, "    ({name:?}, include_str!({path:?})),");
    }
    out.push_str("];\n");
    let dest = Path::new(&env::var("OUT_DIR").unwrap_or_default()).join("icons.rs");
    let _ = fs::write(dest, out);
}
