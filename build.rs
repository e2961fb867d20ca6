//! Rebuild when a migration changes: `embed_migrations!` reads the
//! directories at compile time, and cargo does not watch them otherwise (a new
//! migration would silently be missing from the binary).
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
