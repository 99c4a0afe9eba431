//! The exported C ABI: the only `#[no_mangle]` items, one file per C header.
//!
//! Every export is thin: [`ffi_boundary!`] catches panics, marks the thread as inside mqshim,
//! and turns the `Result` into the C return value and errno (the one errno door,
//! [`crate::errno::into_c`]). The body builds a [`crate::call::Call`] and hands it to
//! [`crate::dispatch::run`].

/// The errno a call fails with if mqshim panics (a bug): the panic message goes to stderr and
/// the program sees an I/O error rather than a crash.
pub const PANIC_ERRNO: crate::errno::Errno = crate::errno::Errno::EIO;

/// Runs `$body` (a `Result<i64>`) as the body of an export returning `$ret`.
macro_rules! ffi_boundary {
    ($ret:ty, $body:expr) => {{
        let saved_errno = $crate::errno::current();
        let outcome = ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(|| {
            let _inside = $crate::reentry::Inside::enter();
            $body
        }));
        let result: $crate::errno::Result<$ret> = match outcome {
            Ok(r) => r.map(|v| v as $ret),
            Err(_) => Err($crate::PANIC_ERRNO),
        };
        $crate::errno::into_c(result, saved_errno)
    }};
}

/// The fast path of an export: when mqshim has nothing to do (kernel backend, no tracing, no
/// policy), call libc directly — one relaxed load, no call record, and errno is libc's own.
macro_rules! passthrough {
    ($real:expr) => {
        if $crate::init::pure_passthrough() {
            // SAFETY: the caller's arguments, passed unchanged to the function it meant to call.
            return unsafe { $real };
        }
    };
}

/// Ties an export's signature to the `libc` crate's declaration of the same C function: an ABI
/// slip is a build error (c-scape's `libc!` check).
macro_rules! same_signature_as_libc {
    ($($name:ident : $ty:ty;)*) => {
        $(
            const _: $ty = libc::$name;
            const _: $ty = $name;
        )*
    };
}

// The core's modules under the names the exports use.
pub(crate) use mqshim_core::{call, config, dispatch, emu, errno, init, real, reentry};

pub mod api;
pub mod mqueue;
pub mod msg;
pub mod poll;
pub mod stdio;
pub mod unistd;

#[cfg(test)]
mod tests {
    /// The committed `include/mqshim.h` is what cbindgen makes of `api.rs` now (`make header`
    /// writes it when this fails).
    #[test]
    fn committed_header_is_current() {
        let generated = include_str!(concat!(env!("OUT_DIR"), "/mqshim.h"));
        let committed = include_str!("../../include/mqshim.h");
        assert!(generated == committed, "include/mqshim.h is stale: run `make header` and commit it\n--- generated ---\n{generated}");
    }
}
