//! Rebuild when a migration changes: `embed_migrations!` reads the
//! directories at compile time, and cargo does not watch them otherwise (a new
//! migration would silently be missing from the binary).
//!
//! Also names the build: `PATRON_BUILD_ID`, the package version plus a hash
//! of the sources and migrations, which `db::job_rounds` records with each
//! recompute round so that the first start of a new build walks every card
//! (its code may compute them differently) and the other replicas of that
//! build do not. The package version alone never changed between builds.
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-changed=src");
    let mut hasher = DefaultHasher::new();
    for dir in ["src", "migrations"] {
        hash_dir(Path::new(dir), &mut hasher);
    }
    println!(
        "cargo:rustc-env=PATRON_BUILD_ID={}+{:016x}",
        env!("CARGO_PKG_VERSION"),
        hasher.finish()
    );
}

/// Every file under `dir`, by path and content, in name order (the same
/// tree gives the same hash on every machine).
fn hash_dir(dir: &Path, hasher: &mut DefaultHasher) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        if path.is_dir() {
            hash_dir(&path, hasher);
        } else if let Ok(bytes) = std::fs::read(&path) {
            path.to_string_lossy().hash(hasher);
            bytes.hash(hasher);
        }
    }
}
