//! mqshim's own C API, declared in the generated `include/mqshim.h`.

use std::os::raw::c_char;

/// The version of libmqshim, as a NUL-terminated string such as `"0.1.0"`.
#[no_mangle]
pub extern "C" fn mqshim_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// The backend that serves this process's queue calls: `"kernel"` or `"emulate"`.
/// Reading it initialises mqshim from the environment if no queue call has yet.
#[no_mangle]
pub extern "C" fn mqshim_backend() -> *const c_char {
    let name = std::panic::catch_unwind(|| crate::init::state().backend.kind()).map_or("unknown\0", |kind| match kind {
        crate::config::BackendKind::Kernel => "kernel\0",
        crate::config::BackendKind::Emulate => "emulate\0",
    });
    name.as_ptr().cast()
}
