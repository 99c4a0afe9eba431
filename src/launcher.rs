//! A preloaded program's `exec` of a statically linked program, through `mqshim run`.
//!
//! A statically linked program ignores `LD_PRELOAD`: started by a preloaded one (a shell, `make`,
//! a test harness under `mqshim run`), its queue calls would reach the kernel unseen. So when the
//! environment the new program gets names the launcher (`MQSHIM_LAUNCHER`, the `mqshim` command,
//! which `mqshim run` sets), the exec functions run `mqshim run --arg0 ARGV0 -- PATH ARGS...` in
//! its place ([`redirect`]): the same process (pid, descriptors, environment) becomes the
//! launcher, which starts the program as its child under its seccomp supervisor (see
//! `cli/src/supervise.rs`), forwards the usual signals to it and ends as it ends. Any other exec —
//! a dynamically linked program, a script, a file the caller may not execute, a set-user-ID or
//! set-group-ID program, no launcher named, the launcher itself — is made as the program asked.
//!
//! `exec` may be called between `vfork` and the new program, in memory the parent shares: the
//! decision reads the environment, `/proc/self/exe` and the file's headers with system calls into
//! stack buffers, and the new argument vector is built in a private mapping (no `malloc`).

use std::ffi::CStr;
use std::os::raw::c_char;

/// The variable naming the launcher (an absolute path to `mqshim`).
pub const LAUNCHER_VARIABLE: &str = "MQSHIM_LAUNCHER";

/// The launcher's own arguments before the program's path: `mqshim run --arg0 ARGV0 --`.
const HEAD: usize = 5;

/// Memory an exec builds an argument vector in without `malloc` (which must not run between
/// `vfork` and the exec): a private anonymous mapping, unmapped when dropped — i.e. when the
/// exec failed — with `errno` kept for the caller.
pub struct Scratch {
    base: *mut libc::c_void,
    len: usize,
}

impl Scratch {
    /// `len` bytes of zeroed memory; None when they cannot be mapped.
    pub fn new(len: usize) -> Option<Scratch> {
        // SAFETY: a fresh private anonymous mapping; checked below.
        let base = unsafe { libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS, -1, 0) };
        (base != libc::MAP_FAILED).then_some(Scratch { base, len })
    }

    /// The memory's first byte.
    pub fn base(&self) -> *mut u8 {
        self.base.cast()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let errno = crate::errno::current();
        // SAFETY: our own mapping of `len` bytes, unused from now on.
        unsafe { libc::munmap(self.base, self.len) };
        crate::errno::set(errno);
    }
}

/// What a redirected exec executes: the launcher, with `launcher run --arg0 ARGV0 -- PATH
/// ARGS... NULL` and the program's path as found, in [`Scratch`] memory.
pub struct Redirected {
    launcher: *const c_char,
    /// The argument vector, then the path.
    memory: Scratch,
}

impl Redirected {
    /// The path to execute: the launcher's.
    pub fn launcher(&self) -> *const c_char {
        self.launcher
    }

    /// The argument vector to execute it with.
    pub fn argv(&self) -> *const *const c_char {
        self.memory.base() as *const *const c_char
    }
}

/// `environment`'s value of `name` (a NULL-terminated `NAME=value` array), if any.
///
/// # Safety
/// `environment` is NULL or a NULL-terminated array of NUL-terminated strings.
unsafe fn lookup(environment: *const *const c_char, name: &str) -> Option<*const c_char> {
    if environment.is_null() {
        return None;
    }
    let mut at = environment;
    loop {
        // SAFETY: within the NULL-terminated array (this function's contract).
        let entry = unsafe { *at };
        if entry.is_null() {
            return None;
        }
        // SAFETY: a NUL-terminated string of the array.
        let bytes = unsafe { CStr::from_ptr(entry) }.to_bytes();
        if bytes.len() > name.len() && bytes.starts_with(name.as_bytes()) && bytes[name.len()] == b'=' {
            // SAFETY: within the same string, just past the '='.
            return Some(unsafe { entry.add(name.len() + 1) });
        }
        // SAFETY: the next element (the array ends with NULL, not reached yet).
        at = unsafe { at.add(1) };
    }
}

/// Whether the file at `path` is a statically linked ELF executable: no `PT_INTERP` program
/// header, so no dynamic loader runs and no preload reaches it. (64-bit little-endian only: the
/// supervisor serves x86_64. `cli/src/launch/elf.rs` reads the same headers for `mqshim run`'s
/// own checks.)
fn statically_linked(path: &CStr) -> bool {
    const PT_INTERP: u32 = 3;
    const ET_EXEC: u16 = 2;
    const ET_DYN: u16 = 3;
    // Non-blocking: a FIFO (which no exec runs) must not hold the caller here.
    let fd = crate::os::sys::openat(libc::AT_FDCWD, path, libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NONBLOCK | libc::O_NOCTTY, 0);
    if fd < 0 {
        return false;
    }
    let read_at = |buf: &mut [u8], offset: u64| -> bool {
        // SAFETY: reads into a buffer of its length from our descriptor.
        let n = unsafe { libc::pread(fd, buf.as_mut_ptr().cast(), buf.len(), offset as libc::off_t) };
        n == buf.len() as isize
    };
    let verdict = (|| {
        let mut header = [0u8; 64];
        if !read_at(&mut header, 0) || &header[..4] != b"\x7fELF" || header[4] != 2 || header[5] != 1 {
            return false;
        }
        let u16_at = |at: usize| u16::from_le_bytes([header[at], header[at + 1]]);
        let phoff = u64::from_le_bytes(header[32..40].try_into().unwrap_or_default());
        let (kind, phentsize, phnum) = (u16_at(16), u64::from(u16_at(54)), u16_at(56));
        if !(kind == ET_EXEC || kind == ET_DYN) || !(4..=256).contains(&phentsize) || phnum == 0 {
            return false;
        }
        let mut entry = [0u8; 4];
        (0..u64::from(phnum)).all(|i| read_at(&mut entry, phoff + i * phentsize) && u32::from_le_bytes(entry) != PT_INTERP)
    })();
    crate::os::sys::close(fd);
    verdict
}

/// Whether the exec of `path` can be left to the launcher without changing its outcome: a
/// regular file the caller may execute (otherwise the exec's own error is the answer), and not
/// set-user-ID or set-group-ID (the supervisor's filter needs no_new_privs, under which those
/// bits would be ignored; such a program is exec'd as asked, unserved).
fn runnable_as_is(path: &CStr) -> bool {
    executable_file(path).is_some_and(|mode| mode & (libc::S_ISUID | libc::S_ISGID) == 0)
}

/// The mode of the file at `path` when it is a regular file the caller may execute (what
/// `execvp` would run).
fn executable_file(path: &CStr) -> Option<libc::mode_t> {
    let st = crate::os::sys::stat_at(libc::AT_FDCWD, path, 0).ok()?;
    // SAFETY: a NUL-terminated path.
    let executable = unsafe { libc::access(path.as_ptr(), libc::X_OK) } == 0;
    (executable && st.st_mode & libc::S_IFMT == libc::S_IFREG).then_some(st.st_mode)
}

/// Whether this process is the launcher itself (whose children are exec'd as asked).
fn is_launcher(launcher: &CStr) -> bool {
    let mut own = [0u8; libc::PATH_MAX as usize];
    let n = crate::os::sys::readlinkat(libc::AT_FDCWD, c"/proc/self/exe", &mut own);
    usize::try_from(n).is_ok_and(|n| own.get(..n) == Some(launcher.to_bytes()))
}

/// Copies `parts` into `out` as one NUL-terminated path; false if it does not fit.
fn join(out: &mut [u8], parts: &[&[u8]]) -> bool {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    if len + 1 > out.len() {
        return false;
    }
    let mut at = 0;
    for p in parts {
        out[at..at + p.len()].copy_from_slice(p);
        at += p.len();
    }
    out[at] = 0;
    true
}

/// The program an `execve`-style call of `file` runs, written into `out` as a path `mqshim run`
/// takes for the same file: a bare name is a file of the working directory to `execve`, but
/// `mqshim run` would look it up in `PATH`, so it gets "./".
fn as_given(file: &[u8], out: &mut [u8]) -> bool {
    if file.contains(&b'/') {
        join(out, &[file])
    } else {
        join(out, &[b"./", file])
    }
}

/// The program an `execvp`-style call of `file` runs, written into `out`: `file` itself when it
/// names a path (has a '/'), else the first executable regular file of that name in a directory
/// of the caller's `PATH` (glibc's default when it has none; an empty entry is the working
/// directory). False when there is none.
fn find(file: &[u8], out: &mut [u8]) -> bool {
    if file.contains(&b'/') {
        return join(out, &[file]);
    }
    // SAFETY: getenv reads the process's environment; the value is a NUL-terminated string.
    let search = unsafe {
        let v = libc::getenv(c"PATH".as_ptr());
        if v.is_null() {
            &b"/bin:/usr/bin"[..]
        } else {
            CStr::from_ptr(v).to_bytes()
        }
    };
    for dir in search.split(|&b| b == b':') {
        let dir = if dir.is_empty() { &b"."[..] } else { dir };
        if !join(out, &[dir, b"/", file]) {
            continue;
        }
        if CStr::from_bytes_until_nul(out).ok().and_then(executable_file).is_some() {
            return true;
        }
    }
    false
}

/// What an exec of `file` (looked up as `execvp` does when `search_path`) with `argv`, giving
/// the new program `environment`, executes instead: the launcher, when `file` is a statically
/// linked program and `environment` names a launcher (by absolute path) that is not this
/// process; None: exec as asked.
///
/// # Safety
/// `file` is NULL or a NUL-terminated string; `argv` and `environment` are NULL or
/// NULL-terminated arrays of NUL-terminated strings, as `execve` takes them.
pub unsafe fn redirect(file: *const c_char, argv: *const *const c_char, environment: *const *const c_char, search_path: bool) -> Option<Redirected> {
    // SAFETY: the caller's environment array (this function's contract).
    let launcher = unsafe { lookup(environment, LAUNCHER_VARIABLE) }?;
    if file.is_null() || argv.is_null() {
        return None;
    }
    // SAFETY: NUL-terminated strings (the contract; `launcher` is within an environment entry).
    let (launcher_path, file) = unsafe { (CStr::from_ptr(launcher), CStr::from_ptr(file).to_bytes()) };
    if !launcher_path.to_bytes().starts_with(b"/") || file.is_empty() {
        return None;
    }
    // First: the launcher's own exec, between the supervisor's filter and the program, must not
    // `close` (the filter would have it wait for the supervisor, which waits for this exec).
    if is_launcher(launcher_path) {
        return None;
    }
    let mut found = [0u8; libc::PATH_MAX as usize];
    if !(if search_path { find(file, &mut found) } else { as_given(file, &mut found) }) {
        return None;
    }
    let path = CStr::from_bytes_until_nul(&found).ok()?;
    if !runnable_as_is(path) || !statically_linked(path) {
        return None;
    }
    // SAFETY: argv is a NULL-terminated array (the contract).
    let argc = (0..).find(|&i| unsafe { (*argv.add(i)).is_null() })?;
    let slots = HEAD + 1 + argc.saturating_sub(1) + 1;
    let path_at = slots * std::mem::size_of::<*const c_char>();
    let len = path_at + path.to_bytes_with_nul().len();
    let redirected = Redirected { launcher, memory: Scratch::new(len)? };
    let base = redirected.memory.base();
    // SAFETY: the mapping holds `slots` pointers, then the path; both written within it.
    unsafe {
        let copy = base.add(path_at);
        std::ptr::copy_nonoverlapping(path.as_ptr().cast::<u8>(), copy, path.to_bytes_with_nul().len());
        let out = base as *mut *const c_char;
        // The program's argv[0] (its path when it has none) is the launcher's --arg0.
        let argv0 = if argc == 0 { copy.cast_const().cast() } else { *argv };
        let head: [*const c_char; HEAD] = [launcher, c"run".as_ptr(), c"--arg0".as_ptr(), argv0, c"--".as_ptr()];
        for (i, p) in head.iter().enumerate() {
            *out.add(i) = *p;
        }
        *out.add(HEAD) = copy.cast_const().cast();
        for i in 1..argc {
            *out.add(HEAD + i) = *argv.add(i);
        }
        *out.add(slots - 1) = std::ptr::null();
    }
    Some(redirected)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CString;

    /// A minimal 64-bit ELF executable's headers: one program header, of `kind`.
    fn fake_elf(path: &std::path::Path, program_header: u32) {
        let mut bytes = vec![0u8; 64 + 56];
        bytes[..4].copy_from_slice(b"\x7fELF");
        bytes[4] = 2; // 64-bit
        bytes[5] = 1; // little-endian
        bytes[16..18].copy_from_slice(&2u16.to_le_bytes()); // ET_EXEC
        bytes[32..40].copy_from_slice(&64u64.to_le_bytes()); // e_phoff
        bytes[54..56].copy_from_slice(&56u16.to_le_bytes()); // e_phentsize
        bytes[56..58].copy_from_slice(&1u16.to_le_bytes()); // e_phnum
        bytes[64..68].copy_from_slice(&program_header.to_le_bytes());
        std::fs::write(path, bytes).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    fn c_array(strings: &[CString]) -> Vec<*const c_char> {
        strings.iter().map(|s| s.as_ptr()).chain([std::ptr::null()]).collect()
    }

    #[test]
    fn only_elf_files_without_an_interpreter_are_statically_linked() {
        let dir = std::env::temp_dir().join(format!("mqshim-launcher-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (fixed, dynamic) = (dir.join("static"), dir.join("dynamic"));
        fake_elf(&fixed, 1); // PT_LOAD
        fake_elf(&dynamic, 3); // PT_INTERP
        let c = |p: &std::path::Path| CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
        assert!(statically_linked(&c(&fixed)));
        assert!(!statically_linked(&c(&dynamic)));
        assert!(!statically_linked(c"/proc/self/exe"), "this test binary is dynamically linked");
        assert!(!statically_linked(c"/etc/passwd"));
        assert!(!statically_linked(c"/nonexistent"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_static_program_is_run_through_the_launcher_named_in_its_environment() {
        let dir = std::env::temp_dir().join(format!("mqshim-launcher-r-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let program = dir.join("static");
        fake_elf(&program, 1);
        let path = CString::new(program.as_os_str().as_encoded_bytes()).unwrap();
        let argv = [CString::new("name").unwrap(), CString::new("a b").unwrap(), CString::new("c").unwrap()];
        let argv = c_array(&argv);
        let with = [CString::new("A=1").unwrap(), CString::new("MQSHIM_LAUNCHER=/opt/mqshim/bin/mqshim").unwrap()];
        let with = c_array(&with);
        let without = [CString::new("MQSHIM_LAUNCHERX=/x").unwrap()];
        let without = c_array(&without);
        // SAFETY: NUL-terminated strings and NULL-terminated arrays of them, alive for the calls.
        unsafe {
            assert!(redirect(path.as_ptr(), argv.as_ptr(), without.as_ptr(), false).is_none());
            assert!(redirect(path.as_ptr(), argv.as_ptr(), std::ptr::null(), false).is_none());
            let r = redirect(path.as_ptr(), argv.as_ptr(), with.as_ptr(), false).expect("redirected");
            assert_eq!(CStr::from_ptr(r.launcher()).to_bytes(), b"/opt/mqshim/bin/mqshim");
            let out: Vec<&[u8]> = (0..).map(|i| *r.argv().add(i)).take_while(|p| !p.is_null()).map(|p| CStr::from_ptr(p).to_bytes()).collect();
            let expected: Vec<&[u8]> = vec![b"/opt/mqshim/bin/mqshim", b"run", b"--arg0", b"name", b"--", path.to_bytes(), b"a b", b"c"];
            assert_eq!(out, expected);
            // A dynamically linked program, or this process's own exe as the launcher: as asked.
            let own = std::fs::read_link("/proc/self/exe").unwrap();
            let own_env = [CString::new(format!("MQSHIM_LAUNCHER={}", own.display())).unwrap()];
            let own_env = c_array(&own_env);
            assert!(redirect(path.as_ptr(), argv.as_ptr(), own_env.as_ptr(), false).is_none());
            assert!(redirect(c"/proc/self/exe".as_ptr(), argv.as_ptr(), with.as_ptr(), false).is_none());
            // Not executable, or set-user-ID: as asked (the exec's own answer, its own privileges).
            use std::os::unix::fs::PermissionsExt;
            for mode in [0o644, 0o4755, 0o2755] {
                std::fs::set_permissions(&program, std::fs::Permissions::from_mode(mode)).unwrap();
                assert!(redirect(path.as_ptr(), argv.as_ptr(), with.as_ptr(), false).is_none(), "mode {mode:o}");
            }
            std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
            // With no argument at all, the path stands for argv[0].
            let empty: [*const c_char; 1] = [std::ptr::null()];
            let r = redirect(path.as_ptr(), empty.as_ptr(), with.as_ptr(), false).expect("redirected");
            let n = (0..).take_while(|&i| !(*r.argv().add(i)).is_null()).count();
            assert_eq!(n, 6);
            assert_eq!(CStr::from_ptr(*r.argv().add(3)).to_bytes(), path.to_bytes());
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_bare_name_given_to_execve_stays_a_file_of_the_working_directory() {
        let mut out = [0u8; 64];
        assert!(as_given(b"prog", &mut out));
        assert_eq!(CStr::from_bytes_until_nul(&out).unwrap().to_bytes(), b"./prog");
        assert!(as_given(b"bin/prog", &mut out));
        assert_eq!(CStr::from_bytes_until_nul(&out).unwrap().to_bytes(), b"bin/prog");
        assert!(!as_given(&[b'x'; 64], &mut out));
    }

    #[test]
    fn a_name_without_a_slash_is_looked_up_in_path() {
        let mut out = [0u8; 4096];
        assert!(find(b"./x/y", &mut out));
        assert_eq!(CStr::from_bytes_until_nul(&out).unwrap().to_bytes(), b"./x/y");
        if std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("sh").is_file())) {
            assert!(find(b"sh", &mut out));
            assert!(CStr::from_bytes_until_nul(&out).unwrap().to_bytes().ends_with(b"/sh"));
        }
        assert!(!find(b"no-such-program-anywhere-mqshim", &mut out));
    }
}
