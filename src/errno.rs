//! The one errno door: internal code returns `Result<T, Errno>`; only [`into_c`] turns it into
//! a C return value, writing errno on failure and restoring the caller's errno on success.

use std::os::raw::c_int;

pub use nix::errno::Errno;

/// Result of every internal operation that can fail with an errno.
pub type Result<T> = std::result::Result<T, Errno>;

/// A C return type and the value it takes on failure.
pub trait CReturn: Copy {
    /// The value the C function returns on failure (`-1` for all of ours).
    const FAILURE: Self;
}

impl CReturn for c_int {
    const FAILURE: c_int = -1;
}

impl CReturn for libc::ssize_t {
    const FAILURE: libc::ssize_t = -1;
}

/// The calling thread's errno.
pub fn current() -> c_int {
    // SAFETY: __errno_location returns the calling thread's errno slot, always valid.
    unsafe { *libc::__errno_location() }
}

/// Sets the calling thread's errno.
pub fn set(value: c_int) {
    // SAFETY: as in `current`.
    unsafe { *libc::__errno_location() = value }
}

/// The errno left by the last failed libc call, as a `Result`.
pub fn last<T>() -> Result<T> {
    Err(Errno::last())
}

/// Turns a libc-style return (`-1` and errno on failure) into a `Result`.
pub fn check<T: CReturn + PartialEq>(ret: T) -> Result<T> {
    if ret == T::FAILURE {
        last()
    } else {
        Ok(ret)
    }
}

/// The errno door: failure writes errno and returns the C failure value; success returns the
/// value and leaves errno as the caller had it (`saved`), whatever mqshim did meanwhile.
pub fn into_c<T: CReturn>(result: Result<T>, saved: c_int) -> T {
    match result {
        Ok(value) => {
            set(saved);
            value
        }
        Err(e) => {
            set(e as c_int);
            T::FAILURE
        }
    }
}
