//! Generates mqshim's C header from `src/api.rs` with cbindgen, into `OUT_DIR`.
//!
//! The header is committed as `include/mqshim.h`. The build never rewrites it: the test
//! `committed_header_is_current` (run by `make test`) fails when the generated header differs
//! from the committed one, as rustls-ffi's CI does, and `make header` (which sets
//! `MQSHIM_WRITE_HEADER=1`) writes the generated one in its place.

use std::path::PathBuf;

fn main() {
    let crate_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let api = crate_dir.join("src/api.rs");
    println!("cargo:rerun-if-changed={}", api.display());
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=MQSHIM_WRITE_HEADER");

    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("cbindgen.toml is valid");
    let bindings = cbindgen::Builder::new().with_config(config).with_src(&api).generate().expect("cbindgen can parse ffi/src/api.rs");

    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    bindings.write_to_file(out_dir.join("mqshim.h"));

    if std::env::var_os("MQSHIM_WRITE_HEADER").is_some_and(|v| v == "1") {
        let header = crate_dir.join("../include/mqshim.h");
        std::fs::copy(out_dir.join("mqshim.h"), &header).expect("can write include/mqshim.h");
    }
}
