//! Rebuilds the crate when a migration is added or edited, so `sqlx::migrate!`
//! always embeds the current set.

fn main() {
    println!("cargo:rerun-if-changed=../../migrations/postgres");
    println!("cargo:rerun-if-changed=../../migrations/sqlite");
}
