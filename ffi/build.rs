//! Generates mqshim's C header from `src/api.rs` with cbindgen, into `OUT_DIR`.
//!
//! The header is committed as `include/mqshim.h`. The build never rewrites it: the test
//! `committed_header_is_current` (run by `make test`) fails when the generated header differs
//! from the committed one, as rustls-ffi's CI does, and `make header` (which sets
//! `MQSHIM_WRITE_HEADER=1`) writes the generated one in its place.
//!
//! It also gives the library its SONAME, `libmqshim.so.MAJOR` (the package's major version), so
//! that a program linked with `-lmqshim` needs `libmqshim.so.MAJOR` — the name `make install`
//! installs beside the versioned file and the development link — and a program that links it and
//! is also preloaded with it loads it once. In the build tree the same name is a link to
//! `libmqshim.so`, made here, so that programs linked against `target/release` start.

use std::path::{Path, PathBuf};

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

    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").expect("cargo sets CARGO_PKG_VERSION_MAJOR");
    let soname = format!("libmqshim.so.{major}");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,{soname}");
    link_soname_in_build_tree(&out_dir, &soname);

    if std::env::var_os("MQSHIM_WRITE_HEADER").is_some_and(|v| v == "1") {
        let header = crate_dir.join("../include/mqshim.h");
        std::fs::copy(out_dir.join("mqshim.h"), &header).expect("can write include/mqshim.h");
    }
}

/// Makes `SONAME -> libmqshim.so` in the profile directory (`target/release`) where cargo puts the
/// library: `OUT_DIR` is `<profile>/build/mqshim-<hash>/out`. Any other layout gets a warning.
fn link_soname_in_build_tree(out_dir: &Path, soname: &str) {
    let Some(profile_dir) = out_dir.ancestors().nth(3).filter(|_| out_dir.ancestors().nth(2).is_some_and(|b| b.ends_with("build"))) else {
        println!("cargo:warning=OUT_DIR {} is not <profile>/build/<pkg>/out: no {soname} link made", out_dir.display());
        return;
    };
    let link = profile_dir.join(soname);
    if std::fs::read_link(&link).is_ok_and(|target| target == Path::new("libmqshim.so")) {
        return;
    }
    let _ = std::fs::remove_file(&link);
    if let Err(e) = std::os::unix::fs::symlink("libmqshim.so", &link) {
        println!("cargo:warning=cannot make the link {}: {e}", link.display());
    }
}
