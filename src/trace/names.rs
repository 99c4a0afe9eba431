//! Symbolic names for the numbers that appear in queue calls: flags, commands, errno values,
//! signals. Unknown bits are shown as numbers, never dropped.

use std::fmt::{self, Write};

/// Writes `bits` as `A|B|0x40` from a table of single-bit (or multi-bit) names.
fn write_bits(out: &mut dyn Write, mut bits: u64, table: &[(u64, &str)], mut first: bool) -> fmt::Result {
    for &(flag, name) in table {
        if flag != 0 && bits & flag == flag {
            if !first {
                out.write_char('|')?;
            }
            out.write_str(name)?;
            first = false;
            bits &= !flag;
        }
    }
    if bits != 0 {
        if !first {
            out.write_char('|')?;
        }
        write!(out, "0{bits:o}")?;
    } else if first {
        out.write_char('0')?;
    }
    Ok(())
}

/// `mq_open` oflag: access mode first, then the other flags (`O_RDWR|O_CREAT|O_EXCL`).
pub fn open_flags(out: &mut dyn Write, oflag: i32) -> fmt::Result {
    let access = match oflag & libc::O_ACCMODE {
        libc::O_RDONLY => "O_RDONLY",
        libc::O_WRONLY => "O_WRONLY",
        libc::O_RDWR => "O_RDWR",
        _ => "O_ACCMODE",
    };
    out.write_str(access)?;
    let rest = (oflag & !libc::O_ACCMODE) as u32 as u64;
    if rest == 0 {
        return Ok(());
    }
    out.write_char('|')?;
    write_bits(
        out,
        rest,
        &[
            (libc::O_CREAT as u64, "O_CREAT"),
            (libc::O_EXCL as u64, "O_EXCL"),
            (libc::O_NONBLOCK as u64, "O_NONBLOCK"),
            (libc::O_CLOEXEC as u64, "O_CLOEXEC"),
            (libc::O_NOCTTY as u64, "O_NOCTTY"),
            (libc::O_TRUNC as u64, "O_TRUNC"),
            (libc::O_APPEND as u64, "O_APPEND"),
        ],
        true,
    )
}

/// `msgget` msgflg: `IPC_CREAT|IPC_EXCL|0600`.
pub fn msgget_flags(out: &mut dyn Write, flags: i32) -> fmt::Result {
    let bits = flags as u32 as u64;
    let named = bits & !0o777;
    let mode = bits & 0o777;
    if bits == 0 {
        return out.write_char('0');
    }
    if named != 0 {
        write_bits(out, named, &[(libc::IPC_CREAT as u64, "IPC_CREAT"), (libc::IPC_EXCL as u64, "IPC_EXCL"), (libc::IPC_NOWAIT as u64, "IPC_NOWAIT")], true)?;
        out.write_char('|')?;
    }
    write!(out, "0{mode:03o}")
}

/// `msgsnd`/`msgrcv` msgflg: `IPC_NOWAIT|MSG_NOERROR`.
pub fn msg_flags(out: &mut dyn Write, flags: i32) -> fmt::Result {
    write_bits(
        out,
        flags as u32 as u64,
        &[
            (libc::IPC_NOWAIT as u64, "IPC_NOWAIT"),
            (libc::MSG_NOERROR as u64, "MSG_NOERROR"),
            (libc::MSG_EXCEPT as u64, "MSG_EXCEPT"),
            (libc::MSG_COPY as u64, "MSG_COPY"),
        ],
        true,
    )
}

/// `msgctl` command name, or its number.
pub fn msgctl_cmd(out: &mut dyn Write, cmd: i32) -> fmt::Result {
    let name = match cmd {
        libc::IPC_RMID => "IPC_RMID",
        libc::IPC_SET => "IPC_SET",
        libc::IPC_STAT => "IPC_STAT",
        libc::IPC_INFO => "IPC_INFO",
        libc::MSG_STAT => "MSG_STAT",
        libc::MSG_INFO => "MSG_INFO",
        MSG_STAT_ANY => "MSG_STAT_ANY",
        _ => return write!(out, "{cmd}"),
    };
    out.write_str(name)
}

/// `MSG_STAT_ANY` (Linux 4.17), missing from some libc versions.
pub const MSG_STAT_ANY: i32 = 13;

/// A SysV key: `IPC_PRIVATE` or eight hex digits.
pub fn key(out: &mut dyn Write, key: libc::key_t) -> fmt::Result {
    if key == libc::IPC_PRIVATE {
        out.write_str("IPC_PRIVATE")
    } else {
        write!(out, "{:#010x}", key as u32)
    }
}

/// A permission mode in octal (`0600`).
pub fn mode(out: &mut dyn Write, mode: u32) -> fmt::Result {
    write!(out, "0{mode:03o}")
}

/// `sigev_notify` value name.
pub fn sigev_notify(out: &mut dyn Write, notify: i32) -> fmt::Result {
    match notify {
        libc::SIGEV_SIGNAL => out.write_str("SIGEV_SIGNAL"),
        libc::SIGEV_NONE => out.write_str("SIGEV_NONE"),
        libc::SIGEV_THREAD => out.write_str("SIGEV_THREAD"),
        libc::SIGEV_THREAD_ID => out.write_str("SIGEV_THREAD_ID"),
        n => write!(out, "{n}"),
    }
}

/// A signal name (`SIGUSR1`, `SIGRTMIN+2`) or its number.
pub fn signal(out: &mut dyn Write, signo: i32) -> fmt::Result {
    const NAMES: [&str; 32] = [
        "0",
        "SIGHUP",
        "SIGINT",
        "SIGQUIT",
        "SIGILL",
        "SIGTRAP",
        "SIGABRT",
        "SIGBUS",
        "SIGFPE",
        "SIGKILL",
        "SIGUSR1",
        "SIGSEGV",
        "SIGUSR2",
        "SIGPIPE",
        "SIGALRM",
        "SIGTERM",
        "SIGSTKFLT",
        "SIGCHLD",
        "SIGCONT",
        "SIGSTOP",
        "SIGTSTP",
        "SIGTTIN",
        "SIGTTOU",
        "SIGURG",
        "SIGXCPU",
        "SIGXFSZ",
        "SIGVTALRM",
        "SIGPROF",
        "SIGWINCH",
        "SIGIO",
        "SIGPWR",
        "SIGSYS",
    ];
    match signo {
        0..=31 => out.write_str(NAMES[signo as usize]),
        32..=64 => {
            let rtmin = libc::SIGRTMIN();
            if signo >= rtmin {
                write!(out, "SIGRTMIN+{}", signo - rtmin)
            } else {
                write!(out, "{signo}")
            }
        }
        _ => write!(out, "{signo}"),
    }
}

/// Writes the symbolic name of an errno value (`EAGAIN`): the variant name of nix's enum, which
/// is the C macro name (Debug of a field-less enum writes a static string, no allocation).
pub fn errno(out: &mut dyn Write, e: nix::errno::Errno) -> fmt::Result {
    write!(out, "{e:?}")
}

/// Writes the C library's description of an errno value (`Resource temporarily unavailable`),
/// the same text `perror` prints.
pub fn errno_text(out: &mut dyn Write, e: nix::errno::Errno) -> fmt::Result {
    let mut buf = [0u8; 128];
    // SAFETY: the XSI strerror_r writes a NUL-terminated string of at most buf.len() bytes.
    let rc = unsafe { libc::strerror_r(e as i32, buf.as_mut_ptr().cast(), buf.len()) };
    let len = buf.iter().position(|&b| b == 0).unwrap_or(0);
    match (rc, std::str::from_utf8(&buf[..len])) {
        (0, Ok(text)) => out.write_str(text),
        _ => out.write_str(e.desc()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(f: impl Fn(&mut String) -> fmt::Result) -> String {
        let mut out = String::new();
        f(&mut out).unwrap();
        out
    }

    #[test]
    fn flags_are_named() {
        assert_eq!(s(|o| open_flags(o, libc::O_RDWR | libc::O_CREAT | libc::O_EXCL)), "O_RDWR|O_CREAT|O_EXCL");
        assert_eq!(s(|o| open_flags(o, libc::O_RDONLY)), "O_RDONLY");
        assert_eq!(s(|o| open_flags(o, 3)), "O_ACCMODE");
        assert_eq!(s(|o| msgget_flags(o, libc::IPC_CREAT | 0o600)), "IPC_CREAT|0600");
        assert_eq!(s(|o| msgget_flags(o, 0)), "0");
        assert_eq!(s(|o| msgget_flags(o, 0o600)), "0600");
        assert_eq!(s(|o| mode(o, 0o600)), "0600");
        assert_eq!(s(|o| errno_text(o, nix::errno::Errno::EBADF)), "Bad file descriptor");
        assert_eq!(s(|o| msg_flags(o, libc::IPC_NOWAIT | libc::MSG_NOERROR)), "IPC_NOWAIT|MSG_NOERROR");
        assert_eq!(s(|o| msg_flags(o, 0)), "0");
        assert_eq!(s(|o| msg_flags(o, 0o1)), "01");
        assert_eq!(s(|o| msgctl_cmd(o, libc::IPC_STAT)), "IPC_STAT");
        assert_eq!(s(|o| msgctl_cmd(o, 99)), "99");
        assert_eq!(s(|o| key(o, 0x162e)), "0x0000162e");
        assert_eq!(s(|o| key(o, -1)), "0xffffffff");
        assert_eq!(s(|o| key(o, 0)), "IPC_PRIVATE");
        assert_eq!(s(|o| signal(o, libc::SIGUSR1)), "SIGUSR1");
        assert_eq!(s(|o| errno(o, nix::errno::Errno::EAGAIN)), "EAGAIN");
        assert_eq!(s(|o| errno(o, nix::errno::Errno::ECHILD)), "ECHILD");
    }
}
