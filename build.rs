//! Link settings of the `tozalash` binaries (docs/decisions.md, "Packed
//! relative relocations").

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    let var = |name| std::env::var(name).unwrap_or_default();
    // The executable is position-independent, so the loader relocates every
    // pointer in its read-only data at start. Stored as RELR (a bitmap) rather
    // than one 24-byte RELA entry each, those relocations take some 30 KiB
    // instead of 1.8 MiB of the file, all of which the loader reads, so it
    // stays resident. glibc 2.36 and GNU ld 2.38 (or lld) read and write it.
    if var("CARGO_CFG_TARGET_OS") == "linux" && var("CARGO_CFG_TARGET_ENV") == "gnu" {
        println!("cargo::rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}
