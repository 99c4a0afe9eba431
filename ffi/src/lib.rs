//! The exported C ABI: the only `#[no_mangle]` items, one file per C header.
//!
//! This crate is `libmqshim.so`, the library a program preloads or links; everything else is in
//! `mqshim-core` (`src/`), which exports nothing.
//!
//! Every export is thin: `ffi_boundary!` catches panics, marks the thread as inside mqshim,
//! and turns the `Result` into the C return value and errno (the one errno door,
//! [`errno::into_c`]). The body builds a [`call::Call`] and hands it to [`dispatch::run`], or
//! calls the dispatch function for its hook; nothing here reaches past `dispatch` (and the
//! real functions and process state it needs to stay out of the way).

/// The errno a call fails with if mqshim panics (a bug): the panic message goes to stderr and
/// the program sees an I/O error rather than a crash.
pub const PANIC_ERRNO: crate::errno::Errno = crate::errno::Errno::EIO;

/// What an export's body yields if mqshim panics, for each kind of value a body returns (the
/// errno-returning calls go through [`errno::into_c`] instead, with [`PANIC_ERRNO`]).
pub trait OnPanic {
    fn on_panic() -> Self;
}

/// Nothing to return (a hook that may do nothing).
impl OnPanic for () {
    fn on_panic() {}
}

/// Nothing to say: the caller falls back to libc's own behaviour.
impl<T> OnPanic for Option<T> {
    fn on_panic() -> Self {
        None
    }
}

/// A name the program prints: an honest one.
impl OnPanic for &'static std::ffi::CStr {
    fn on_panic() -> Self {
        c"unknown"
    }
}

/// The one panic door of every export.
///
/// - `ffi_boundary!(errno $ret, $body)`: `$body` is a `Result<i64>`; the export returns it as
///   `$ret` through the errno door (a panic is a failure with [`PANIC_ERRNO`]).
/// - `ffi_boundary!($body)`: any other body; a panic yields its type's [`OnPanic`] value.
///
/// Either way the body runs as mqshim code (the re-entrancy guard is up).
macro_rules! ffi_boundary {
    (errno $ret:ty, $body:expr) => {{
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
    ($body:expr) => {{
        let outcome = ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(|| {
            let _inside = $crate::reentry::Inside::enter();
            $body
        }));
        match outcome {
            Ok(v) => v,
            Err(_) => $crate::OnPanic::on_panic(),
        }
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
pub(crate) use mqshim_core::{call, devmqueue, dispatch, errno, init, launcher, os, procfs, real, reentry, trap};

pub mod api;
pub mod credentials;
pub mod dirent;
pub mod exec;
pub mod fcntl;
pub mod ftw;
pub mod mqueue;
pub mod msg;
pub mod poll;
pub mod signal;
pub mod stat;
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
