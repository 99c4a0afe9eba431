//! Who is calling: the credentials and capabilities the kernel would check.

/// Capabilities mqshim's checks care about (bit numbers from `<linux/capability.h>`).
pub mod cap {
    pub const CHOWN: u32 = 0;
    pub const DAC_OVERRIDE: u32 = 1;
    pub const DAC_READ_SEARCH: u32 = 2;
    pub const FOWNER: u32 = 3;
    pub const FSETID: u32 = 4;
    pub const KILL: u32 = 5;
    pub const IPC_OWNER: u32 = 15;
    pub const SYS_ADMIN: u32 = 21;
    pub const SYS_RESOURCE: u32 = 24;
    /// Lets its holder set `msg_next_id`.
    pub const CHECKPOINT_RESTORE: u32 = 40;
}

/// Moves whenever the program may be changing its credentials through a function mqshim sees
/// (`setuid`, `seteuid`, `setresuid`, `setgroups`, `capset`, ..., and the same raw system calls
/// made through `syscall`): a cache of credentials read under another value is stale, in every
/// thread (glibc changes every thread's credentials together).
static GENERATION: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// See [`GENERATION`]: one load.
pub fn generation() -> u32 {
    GENERATION.load(std::sync::atomic::Ordering::Acquire)
}

/// The program is changing, or has just changed, its credentials (called on both sides of the
/// change, so that a cache filled during it is stale too).
pub fn changing() {
    GENERATION.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
}

/// The calling thread's credentials, read fresh (they can change at any time).
#[derive(Clone, Debug)]
pub struct Creds {
    pub uid: u32,
    pub euid: u32,
    pub fsuid: u32,
    pub gid: u32,
    pub egid: u32,
    pub fsgid: u32,
    pub groups: Vec<u32>,
    /// Effective capability set.
    pub caps: u64,
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

impl Creds {
    pub fn current() -> Creds {
        // Straight from the kernel: a preloaded fakeroot fakes libc's getuid & co., but the
        // kernel's checks use the real credentials.
        let (uid, euid, fsuid, gid, egid, fsgid) = crate::os::sys::ids();
        let mut groups = vec![0u32; 64];
        loop {
            let n = crate::os::sys::getgroups(&mut groups);
            if n >= 0 {
                groups.truncate(n as usize);
                break;
            }
            if groups.len() >= 65536 {
                groups.clear();
                break;
            }
            let len = groups.len() * 4;
            groups.resize(len, 0);
        }
        Creds { uid, euid, fsuid, gid, egid, fsgid, groups, caps: effective_caps() }
    }

    pub fn has(&self, capability: u32) -> bool {
        self.caps & (1u64 << capability) != 0
    }

    /// Whether `gid` is the caller's filesystem group or a supplementary group.
    pub fn in_group_fs(&self, gid: u32) -> bool {
        self.fsgid == gid || self.groups.contains(&gid)
    }

    /// Whether `gid` is the caller's effective group or a supplementary group (SysV checks).
    pub fn in_group_effective(&self, gid: u32) -> bool {
        self.egid == gid || self.groups.contains(&gid)
    }
}

/// Whether the calling thread has `capability` now (as [`Creds::has`], reading only that).
pub fn has_now(capability: u32) -> bool {
    effective_caps() & (1u64 << capability) != 0
}

/// Thread `tid`'s capability sets (0: the calling thread's), as `capget` reports them.
fn capget(tid: i32) -> Option<[CapData; 2]> {
    let mut hdr = CapHeader { version: LINUX_CAPABILITY_VERSION_3, pid: tid };
    let mut data = [CapData::default(); 2];
    // SAFETY: capget with a v3 header writes two CapData records.
    let rc = unsafe { libc::syscall(libc::SYS_capget, &mut hdr as *mut CapHeader, data.as_mut_ptr()) };
    (rc == 0).then_some(data)
}

/// Thread `tid`'s effective capabilities (0: the calling thread's), as `capget` reports them;
/// None when it cannot be asked (gone).
pub fn effective_caps_of(tid: i32) -> Option<u64> {
    capget(tid).map(|d| d[0].effective as u64 | (d[1].effective as u64) << 32)
}

/// Makes `effective` (within its permitted set) the calling thread's — only this thread's: a
/// raw `capset` — effective capabilities; false when refused.
pub fn set_own_effective_caps(effective: u64) -> bool {
    let Some(mut data) = capget(0) else { return false };
    data[0].effective = effective as u32 & data[0].permitted;
    data[1].effective = (effective >> 32) as u32 & data[1].permitted;
    let mut hdr = CapHeader { version: LINUX_CAPABILITY_VERSION_3, pid: 0 };
    // SAFETY: capset with a v3 header reads two CapData records.
    unsafe { libc::syscall(libc::SYS_capset, &mut hdr as *mut CapHeader, data.as_ptr()) == 0 }
}

/// The calling thread's effective capabilities, as the kernel's checks see them.
fn effective_caps() -> u64 {
    let mut caps = effective_caps_of(0).unwrap_or(0);
    // capget reports capabilities in the caller's own user namespace, but the kernel's queue
    // limits and IPC privileges are checked with capable(), in the initial one: root of a user
    // namespace (a rootless container) does not have them there. (Asked only of a caller that
    // claims one of them: the question costs a /proc lookup.)
    const INITIAL_NAMESPACE_ONLY: u64 = 1 << cap::SYS_RESOURCE | 1 << cap::SYS_ADMIN | 1 << cap::IPC_OWNER;
    if caps & INITIAL_NAMESPACE_ONLY != 0 && !in_initial_user_namespace() {
        caps &= !INITIAL_NAMESPACE_ONLY;
    }
    caps
}

/// The inode number of the initial user namespace (`PROC_USER_INIT_INO`).
const INITIAL_USER_NS_INO: u64 = 0xEFFF_FFFD;

/// Whether the caller is in the initial user namespace (true when it cannot be told).
pub fn in_initial_user_namespace() -> bool {
    // The link's text, `user:[INODE]`: reading it costs less than half a stat of it, which
    // makes the kernel build an inode for the namespace. A direct system call: fakeroot's
    // wrappers ask its daemon over a queue, that is, call back into mqshim from here (see
    // `os::sys`).
    let mut buf = [0u8; 64];
    let n = crate::os::sys::readlinkat(libc::AT_FDCWD, c"/proc/self/ns/user", &mut buf);
    let Some(text) = usize::try_from(n).ok().and_then(|n| std::str::from_utf8(&buf[..n]).ok()) else { return true };
    match text.strip_prefix("user:[").and_then(|t| t.strip_suffix(']')).and_then(|t| t.parse::<u64>().ok()) {
        Some(ino) => ino == INITIAL_USER_NS_INO,
        None => true,
    }
}

/// Read and write permission bits (4 and 2) a file `mode` grants `creds` for an object owned by
/// `uid:gid`, the way `generic_permission` picks the class: owner, else group, else other.
pub fn class_bits(mode: u32, uid: u32, gid: u32, creds: &Creds) -> u32 {
    if creds.fsuid == uid {
        (mode >> 6) & 7
    } else if creds.in_group_fs(gid) {
        (mode >> 3) & 7
    } else {
        mode & 7
    }
}

/// [`may_access`] for the calling thread as it is now, reading only what the answer needs: a
/// caller that owns the object and whose owner bits grant `want` costs one system call (its
/// filesystem uid) instead of reading every credential.
pub fn may_access_now(mode: u32, uid: u32, gid: u32, want: u32) -> bool {
    (crate::os::sys::fsuid() == uid && (mode >> 6) & want == want) || may_access(mode, uid, gid, want, &Creds::current())
}

/// `inode_permission` for a regular file: `want` is 4 (read), 2 (write) or both.
pub fn may_access(mode: u32, uid: u32, gid: u32, want: u32, creds: &Creds) -> bool {
    if class_bits(mode, uid, gid, creds) & want == want {
        return true;
    }
    if creds.has(cap::DAC_OVERRIDE) {
        return true;
    }
    want == 4 && creds.has(cap::DAC_READ_SEARCH)
}
