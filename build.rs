//! Generates `include/mqshim.h` from `src/ffi/api.rs` with cbindgen.
//!
//! The header is committed. The build rewrites it when the API changes, and `make test`
//! fails when the rewritten header differs from the committed one (a stale header), as
//! rustls-ffi's CI does.

use std::path::PathBuf;

fn main() {
    let crate_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let api = crate_dir.join("src/ffi/api.rs");
    println!("cargo:rerun-if-changed={}", api.display());
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-changed=build.rs");

    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("cbindgen.toml is valid");
    let bindings = cbindgen::Builder::new().with_config(config).with_src(&api).generate().expect("cbindgen can parse src/ffi/api.rs");

    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    bindings.write_to_file(out_dir.join("mqshim.h"));

    let header = crate_dir.join("include/mqshim.h");
    let generated = std::fs::read(out_dir.join("mqshim.h")).expect("header was just written");
    if std::fs::read(&header).ok().as_deref() != Some(&generated[..]) {
        std::fs::create_dir_all(header.parent().expect("include/ has a parent")).expect("can create include/");
        std::fs::write(&header, &generated).expect("can write include/mqshim.h");
    }
}
