//! `<unistd.h>`, `<grp.h>`, `<sys/fsuid.h>` and `capset`: the functions that change the
//! caller's credentials. mqshim keeps each thread's credentials for System V's permission
//! checks (reading them costs system calls on every call otherwise); once the program changes
//! them, through these or through the same system calls made with `syscall`, every thread's
//! copy is stale (`os::creds::changing`), and its next call reads them afresh — a program that
//! drops privileges is refused at its next call, as by the kernel.
//!
//! Changes made past these (a system call made inline, a library's internal call, as glibc's
//! `initgroups` makes to `setgroups`, hence interposed itself) are not seen: the next
//! `msgget` or slow path reads the credentials afresh anyway.

use std::os::raw::{c_char, c_int, c_void};

use crate::os::creds;
use crate::real;
use crate::reentry::Inside;

/// Wraps the real function: the credential generation moves before and after it.
macro_rules! changes_credentials {
    ($( $(#[$doc:meta])* fn $name:ident($($arg:ident: $ty:ty),*); )*) => {
        $(
            $(#[$doc])*
            ///
            /// # Safety
            /// As the C function requires of its arguments.
            #[no_mangle]
            pub unsafe extern "C" fn $name($($arg: $ty),*) -> c_int {
                // mqshim's own calls (none changes the program's credentials) pass straight on.
                let program = !Inside::active();
                if program {
                    creds::changing();
                }
                // SAFETY: the caller's arguments, passed on.
                let rc = unsafe { real::$name($($arg),*) };
                if program {
                    creds::changing();
                }
                rc
            }
        )*
    };
}

changes_credentials! {
    /// `int setuid(uid_t uid)`.
    fn setuid(uid: libc::uid_t);
    /// `int setgid(gid_t gid)`.
    fn setgid(gid: libc::gid_t);
    /// `int seteuid(uid_t euid)`.
    fn seteuid(uid: libc::uid_t);
    /// `int setegid(gid_t egid)`.
    fn setegid(gid: libc::gid_t);
    /// `int setreuid(uid_t ruid, uid_t euid)`.
    fn setreuid(ruid: libc::uid_t, euid: libc::uid_t);
    /// `int setregid(gid_t rgid, gid_t egid)`.
    fn setregid(rgid: libc::gid_t, egid: libc::gid_t);
    /// `int setresuid(uid_t ruid, uid_t euid, uid_t suid)`.
    fn setresuid(ruid: libc::uid_t, euid: libc::uid_t, suid: libc::uid_t);
    /// `int setresgid(gid_t rgid, gid_t egid, gid_t sgid)`.
    fn setresgid(rgid: libc::gid_t, egid: libc::gid_t, sgid: libc::gid_t);
    /// `int setgroups(size_t size, const gid_t *list)`.
    fn setgroups(size: libc::size_t, list: *const libc::gid_t);
    /// `int initgroups(const char *user, gid_t group)` (glibc's calls its own `setgroups`).
    fn initgroups(user: *const c_char, group: libc::gid_t);
    /// `int setfsuid(uid_t fsuid)`: the previous filesystem uid.
    fn setfsuid(fsuid: libc::uid_t);
    /// `int setfsgid(gid_t fsgid)`: the previous filesystem gid.
    fn setfsgid(fsgid: libc::gid_t);
    /// `int capset(cap_user_header_t header, const cap_user_data_t data)`.
    fn capset(header: *mut c_void, data: *const c_void);
}

/// Whether system call `number`, whose first argument is `first`, changes the calling thread's
/// credentials (`setfsuid(-1)` and `setfsgid(-1)` only read them).
pub(crate) fn changes_credentials(number: std::os::raw::c_long, first: std::os::raw::c_long) -> bool {
    match number {
        libc::SYS_setfsuid | libc::SYS_setfsgid => first as u32 != u32::MAX,
        libc::SYS_setuid
        | libc::SYS_setgid
        | libc::SYS_setreuid
        | libc::SYS_setregid
        | libc::SYS_setresuid
        | libc::SYS_setresgid
        | libc::SYS_setgroups
        | libc::SYS_capset => true,
        _ => false,
    }
}

same_signature_as_libc! {
    setuid: unsafe extern "C" fn(libc::uid_t) -> c_int;
    setgid: unsafe extern "C" fn(libc::gid_t) -> c_int;
    seteuid: unsafe extern "C" fn(libc::uid_t) -> c_int;
    setegid: unsafe extern "C" fn(libc::gid_t) -> c_int;
    setreuid: unsafe extern "C" fn(libc::uid_t, libc::uid_t) -> c_int;
    setregid: unsafe extern "C" fn(libc::gid_t, libc::gid_t) -> c_int;
    setresuid: unsafe extern "C" fn(libc::uid_t, libc::uid_t, libc::uid_t) -> c_int;
    setresgid: unsafe extern "C" fn(libc::gid_t, libc::gid_t, libc::gid_t) -> c_int;
    setgroups: unsafe extern "C" fn(libc::size_t, *const libc::gid_t) -> c_int;
    initgroups: unsafe extern "C" fn(*const c_char, libc::gid_t) -> c_int;
    setfsuid: unsafe extern "C" fn(libc::uid_t) -> c_int;
    setfsgid: unsafe extern "C" fn(libc::gid_t) -> c_int;
}

#[cfg(test)]
mod tests {
    use super::changes_credentials;

    /// Reading the filesystem ids (`setfsuid(-1)`, as the emulation does at every credential
    /// read) must not make every thread's credentials stale: that made each System V call read
    /// them again (`micro_msg_sendrecv` 157 -> 820 ns).
    #[test]
    fn reading_the_filesystem_ids_is_no_change() {
        assert!(!changes_credentials(libc::SYS_setfsuid, -1));
        assert!(!changes_credentials(libc::SYS_setfsgid, u32::MAX as std::os::raw::c_long));
        assert!(changes_credentials(libc::SYS_setfsuid, 65534));
        assert!(changes_credentials(libc::SYS_setresuid, -1));
        assert!(changes_credentials(libc::SYS_capset, 0));
        assert!(!changes_credentials(libc::SYS_getuid, 0));
    }
}
