//! Rebuild when a migration changes: `embed_migrations!` reads the
//! directories at compile time, and cargo does not watch them otherwise (a new
//! migration would silently be missing from the binary).
//!
//! Also names the build: `PATRON_BUILD_ID`, the package version plus a hash
//! of the sources and migrations, which `db::job_rounds` records with each
//! recompute round so that the first start of a new build walks every card
//! (its code may compute them differently) and the other replicas of that
//! build do not. The package version alone never changed between builds.
use std::path::Path;

/// FNV-1a, 64 bits: the same on every toolchain (std's `DefaultHasher` may
/// change between Rust releases, and a new hash makes every start walk).
struct Fnv(u64);

impl Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

fn main() {
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=Cargo.lock");
    let mut hasher = Fnv(0xcbf2_9ce4_8422_2325);
    // The dependencies too: one of them may compute a figure differently.
    for path in ["src", "migrations", "Cargo.lock"] {
        hash_path(Path::new(path), &mut hasher);
    }
    println!(
        "cargo:rustc-env=PATRON_BUILD_ID={}+{:016x}",
        env!("CARGO_PKG_VERSION"),
        hasher.0
    );
}

/// A file, or every file under a directory, by path and content, in name
/// order (the same tree gives the same hash on every machine).
fn hash_path(path: &Path, hasher: &mut Fnv) {
    if path.is_dir() {
        let Ok(entries) = std::fs::read_dir(path) else {
            return;
        };
        let mut paths: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for p in paths {
            hash_path(&p, hasher);
        }
    } else if let Ok(bytes) = std::fs::read(path) {
        hasher.write(path.to_string_lossy().as_bytes());
        hasher.write(&[0]);
        hasher.write(&bytes);
        hasher.write(&[0]);
    }
}
