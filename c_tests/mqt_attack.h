/* mqt_attack.h — what the attack tests (attack_*.c) share: a namespace another user can reach,
 * an attacker that is another user, a walk over whatever the namespace holds, and calls bounded
 * in time.
 *
 *   - attack_namespace_setup(argv): run.sh's namespace (@DIR@) lies in a private 0700 directory
 *     and is created 0755 by run.sh, so another user could neither reach it nor create queues in
 *     it. When MQSHIM_DIR is set (the emulation), the test therefore runs itself again (execv of
 *     /proc/self/exe) with MQSHIM_DIR set to a fresh path under /dev/shm — unique per run, not
 *     existing, so the library creates it as it would the default /dev/shm/mqshim — waits for
 *     that run, removes the namespace (without following links) and exits with its status; a
 *     run killed by a signal prints "HARNESS: test killed by SIGxxx" (a difference from the
 *     kernel's transcript). Without MQSHIM_DIR (kernel, shim-kernel) it returns at once and
 *     attack_ns stays NULL: the attacker then finds nothing to attack.
 *   - attack_become_nobody(): setgroups(0), setgid, setuid 65534 (in a t_spawn'd child).
 *   - attack_walk(fn, arg): every entry under the namespace, depth first, by openat/fstatat/
 *     getdents, never following a link; fn sees the parent's descriptor, the entry's name and
 *     lstat and may replace or open it. The tests do not know the namespace's layout.
 *   - attack_map_all() / attack_maps_contain(text): map, read-only, every regular file under the
 *     namespace the caller can open, and keep the mappings; later, whether any of them shows
 *     `text` (what a user let in for a while can still read of what it mapped then);
 *     attack_map_then_search(go, done, text): the two, each when told.
 *   - attack_dir_*: the namespace-directory tests (attack_namespace_dir_*.c, shim-only): root's
 *     process under test is the test run again with "victim" as argv[1], MQSHIM_DIR set to the
 *     directory given and MQSHIM_BACKEND=emulate (in every shim configuration: the kernel has no
 *     namespace directory); it must refuse (EACCES), name the directory on stderr and leave
 *     what it does not own as it was.
 *   - attack_group(label, fn): root's calls in groups, each in a child of its own;
 *     attack_judge(): a verdict line; attack_open_for_writing(): how the attacker opens what
 *     it overwrites.
 *   - attack_bound_arm/disarm (ATTACK_BOUNDED(label, ms, call) around one call): a per-call guard — a call still running after its bound prints
 *     "<label>: no return within N ms", kills the test's children and exits 96, so a hang shows
 *     at once instead of at the 20 s watchdog. attack_now_ms() times a call.
 *
 * Include after harness.h. */
#ifndef MQT_ATTACK_H
#define MQT_ATTACK_H

#include <dirent.h>
#include <grp.h>
#include <sys/mman.h>

#define ATTACK_NOBODY T_NOBODY

/* The namespace under attack (an absolute path), or NULL when the test runs on the kernel. */
static const char *attack_ns;

static void attack_remove_tree_at(int dirfd, const char *name);

/* Removes every entry of the directory open at `fd` (links are removed, never followed). */
static void attack_empty_dir(int fd)
{
    DIR *d = fdopendir(dup(fd));
    if (!d)
        return;
    char names[256][256];
    int n = 0;
    for (;;) {
        struct dirent *e;
        /* Collect a batch, then remove it: removing while reading may skip entries. */
        n = 0;
        rewinddir(d);
        while (n < 256 && (e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            snprintf(names[n++], sizeof names[0], "%s", e->d_name);
        }
        if (n == 0)
            break;
        for (int i = 0; i < n; i++)
            attack_remove_tree_at(fd, names[i]);
        if (n < 256)
            break;
    }
    closedir(d);
}

static void attack_remove_tree_at(int dirfd, const char *name)
{
    struct stat st;
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd >= 0) {
            attack_empty_dir(fd);
            close(fd);
        }
        unlinkat(dirfd, name, AT_REMOVEDIR);
    } else {
        unlinkat(dirfd, name, 0);
    }
}

/* Removes `path` and everything under it, following no link (the last component included). */
static void attack_remove_tree(const char *path) T_UNUSED;
static void attack_remove_tree(const char *path)
{
    char parent[4096];
    snprintf(parent, sizeof parent, "%s", path);
    char *slash = strrchr(parent, '/');
    if (!slash)
        return;
    const char *base = path + (slash - parent) + 1;
    if (slash == parent)
        slash[1] = '\0';
    else
        *slash = '\0';
    int pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (pfd < 0)
        return;
    attack_remove_tree_at(pfd, base);
    close(pfd);
}

static const char *attack_signal_name(int sig)
{
    switch (sig) {
    case SIGBUS: return "SIGBUS";
    case SIGSEGV: return "SIGSEGV";
    case SIGKILL: return "SIGKILL";
    case SIGABRT: return "SIGABRT";
    case SIGALRM: return "SIGALRM";
    case SIGPIPE: return "SIGPIPE";
    case SIGTERM: return "SIGTERM";
    default: return "another signal";
    }
}

/* See the header comment. Call first in main, before any queue call. */
static void attack_namespace_setup(char **argv) T_UNUSED;
static void attack_namespace_setup(char **argv)
{
    const char *own = getenv("MQT_ATTACK_NS");
    if (own && *own) {
        attack_ns = own;
        return;
    }
    const char *dir = getenv("MQSHIM_DIR");
    if (!dir || !*dir)
        return;
    char ns[512];
    snprintf(ns, sizeof ns, "/dev/shm/mqt-attack-%s-%d", t_runid, (int)getpid());
    pid_t pid = t_fork();
    if (pid == 0) {
        T_REQUIRE(setenv("MQSHIM_DIR", ns, 1) == 0);
        T_REQUIRE(setenv("MQT_ATTACK_NS", ns, 1) == 0);
        execv("/proc/self/exe", argv);
        printf("HARNESS: cannot run the test again: %s\n", t_errno_name(errno));
        _exit(98);
    }
    int status;
    pid_t r;
    do
        r = waitpid(pid, &status, 0);
    while (r < 0 && errno == EINTR);
    t_nchildren = 0;
    attack_remove_tree(ns);
    t_finished = 1;             /* the run cleaned up after itself (or reported) */
    if (r < 0) {
        printf("HARNESS: lost the test run\n");
        exit(98);
    }
    if (WIFSIGNALED(status)) {
        printf("HARNESS: test killed by %s\n", attack_signal_name(WTERMSIG(status)));
        fflush(stdout);
        _exit(128 + WTERMSIG(status));
    }
    fflush(stdout);
    _exit(WEXITSTATUS(status));
}

/* In a child: become user and group nobody, with no supplementary groups. */
static void attack_become_nobody(void) T_UNUSED;
static void attack_become_nobody(void)
{
    t_become(ATTACK_NOBODY);
}

/* Called for each entry: the parent directory's descriptor, the entry's name, its lstat and
 * its depth below the namespace root (1 for the root's own entries). Returns nonzero to descend
 * into it (a directory only; after fn returns it is lstat'ed again and must still be one). */
typedef int (*attack_visit_fn)(int dirfd, const char *name, const struct stat *st, int depth,
                               void *arg);

static int attack_walk_count;

static void attack_walk_dir(int fd, int depth, attack_visit_fn fn, void *arg)
{
    if (depth > 16)
        return;
    DIR *d = fdopendir(dup(fd));
    if (!d)
        return;
    /* Read the whole directory first: fn may rename entries. */
    char (*names)[256] = calloc(1024, 256);
    int n = 0;
    struct dirent *e;
    while (names && n < 1024 && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(names[n++], 256, "%s", e->d_name);
    }
    closedir(d);
    for (int i = 0; i < n; i++) {
        struct stat st;
        if (fstatat(fd, names[i], &st, AT_SYMLINK_NOFOLLOW) != 0)
            continue;
        attack_walk_count++;
        if (!fn(fd, names[i], &st, depth, arg))
            continue;
        if (fstatat(fd, names[i], &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(st.st_mode))
            continue;
        int sub = openat(fd, names[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub < 0)
            continue;
        attack_walk_dir(sub, depth + 1, fn, arg);
        close(sub);
    }
    free(names);
}

/* Visits every entry under the namespace (nothing when there is none). Returns the number of
 * entries visited, for the test's stderr diagnostics (never its transcript). */
static int attack_walk(attack_visit_fn fn, void *arg) T_UNUSED;
static int attack_walk(attack_visit_fn fn, void *arg)
{
    attack_walk_count = 0;
    if (!attack_ns)
        return 0;
    int fd = open(attack_ns, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "attack: cannot open the namespace %s: %s\n", attack_ns,
                t_errno_name(errno));
        return 0;
    }
    attack_walk_dir(fd, 1, fn, arg);
    close(fd);
    return attack_walk_count;
}

#define ATTACK_MAPS_MAX 64

/* The files attack_map_all mapped. */
static struct {
    const char *at;
    size_t len;
} attack_maps[ATTACK_MAPS_MAX];
static int attack_nmaps;

/* Maps, read-only, a regular file the caller can open; descends into directories. */
static int attack_map_entry(int dirfd, const char *name, const struct stat *st, int depth, void *arg)
{
    (void)depth;
    (void)arg;
    if (S_ISDIR(st->st_mode))
        return 1;
    if (!S_ISREG(st->st_mode) || st->st_size == 0 || attack_nmaps >= ATTACK_MAPS_MAX)
        return 0;
    int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return 0;
    void *p = mmap(NULL, (size_t)st->st_size, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (p != MAP_FAILED) {
        attack_maps[attack_nmaps].at = p;
        attack_maps[attack_nmaps].len = (size_t)st->st_size;
        attack_nmaps++;
    }
    return 0;
}

/* Maps every regular file under the namespace the caller can open (see the top); returns how
 * many, for stderr. */
static int attack_map_all(void) T_UNUSED;
static int attack_map_all(void)
{
    attack_walk(attack_map_entry, NULL);
    return attack_nmaps;
}

/* Whether any file attack_map_all mapped now shows `text`. */
static int attack_maps_contain(const char *text) T_UNUSED;
static int attack_maps_contain(const char *text)
{
    int found = 0;
    for (int i = 0; i < attack_nmaps; i++)
        found |= memmem(attack_maps[i].at, attack_maps[i].len, text, strlen(text)) != NULL;
    return found;
}

/* The reused-segment attacks' attacker, up to its own calls: when told (`go`), maps what it
 * can and says so (`done`); when told again, checks that `secret` is in none of its mappings. */
static void attack_map_then_search(t_chan *go, t_chan *done, const char *secret) T_UNUSED;
static void attack_map_then_search(t_chan *go, t_chan *done, const char *secret)
{
    t_chan_wait(go);
    fprintf(stderr, "attack: %d files mapped\n", attack_map_all());
    t_chan_post(done);
    t_chan_wait(go);
    t_check("none of root's later messages is found by nobody in what it mapped", !attack_maps_contain(secret));
}

/* ------------------------------------------------------------------------------------------ */
/* root's side                                                                                */

/* Prints `label`, then runs `fn` in a child of its own (its lines join the transcript after it
 * ends): a signal death or a stuck call ends only that group and shows which it was, and the
 * other groups still run. */
static void attack_group(const char *label, void (*fn)(void)) T_UNUSED;
static void attack_group(const char *label, void (*fn)(void))
{
    t_say("%s", label);
    t_child c = t_spawn();
    if (c.pid == 0) {
        fn();
        exit(t_child_status());
    }
    t_join(&c, 0);
}

/* A verdict line: "<label>: <ok_text>" when `ok` (the kernel's result, or what the test allows
 * besides), else the actual result `r` (errno `e`), marked as a mismatch and counted. */
static void attack_judge(const char *label, int ok, const char *ok_text, long r, int e) T_UNUSED;
static void attack_judge(const char *label, int ok, const char *ok_text, long r, int e)
{
    if (ok) {
        printf("%s: %s\n", label, ok_text);
        return;
    }
    if (r == -1)
        printf("%s: -1 %s  !! MISMATCH\n", label, t_errno_name(e));
    else
        printf("%s: %ld (not the kernel's result)  !! MISMATCH\n", label, r);
    t_failures++;
}

/* The attacker's way into a file: read-write, else write-only; never following a link, never
 * blocking on a FIFO. -1 when neither opens. */
static int attack_open_for_writing(int dirfd, const char *name) T_UNUSED;
static int attack_open_for_writing(int dirfd, const char *name)
{
    int fd = openat(dirfd, name, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        fd = openat(dirfd, name, O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    return fd;
}

/* ------------------------------------------------------------------------------------------ */
/* bounded calls                                                                              */

static long long attack_now_ms(void) T_UNUSED;
static long long attack_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static timer_t attack_timer;
static pid_t attack_timer_pid;   /* the process that made it: timers are not inherited by fork */
static char attack_bound_msg[160];
static size_t attack_bound_len;

static void attack_on_bound(int sig)
{
    (void)sig;
    if (write(1, attack_bound_msg, attack_bound_len) < 0) { /* exiting anyway */ }
    for (int i = 0; i < t_nchildren; i++)
        if (t_children[i] > 0)
            kill(t_children[i], SIGKILL);
    _exit(96);
}

/* Until attack_bound_disarm(), a call that runs past `ms` milliseconds ends the test. */
static void attack_bound_arm(const char *label, long ms) T_UNUSED;
static void attack_bound_arm(const char *label, long ms)
{
    if (attack_timer_pid != getpid()) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = attack_on_bound;
        sigaction(SIGUSR2, &sa, NULL);
        struct sigevent sev;
        memset(&sev, 0, sizeof sev);
        sev.sigev_notify = SIGEV_SIGNAL;
        sev.sigev_signo = SIGUSR2;
        T_REQUIRE(timer_create(CLOCK_MONOTONIC, &sev, &attack_timer) == 0);
        attack_timer_pid = getpid();
    }
    int n = snprintf(attack_bound_msg, sizeof attack_bound_msg,
                     "%s: no return within %ld ms\n", label, ms);
    attack_bound_len = n < (int)sizeof attack_bound_msg ? (size_t)n : sizeof attack_bound_msg - 1;
    fflush(stdout);
    struct itimerspec its;
    memset(&its, 0, sizeof its);
    its.it_value.tv_sec = ms / 1000;
    its.it_value.tv_nsec = (ms % 1000) * 1000000;
    timer_settime(attack_timer, 0, &its, NULL);
}

static void attack_bound_disarm(void) T_UNUSED;
static void attack_bound_disarm(void)
{
    if (attack_timer_pid != getpid())
        return;
    struct itimerspec its;
    memset(&its, 0, sizeof its);
    timer_settime(attack_timer, 0, &its, NULL);
}

/* `call`'s value, bounded by `ms` (attack_bound_arm), with its errno kept for the caller. */
#define ATTACK_BOUNDED(label, ms, call) \
    ({ attack_bound_arm(label, ms); errno = 0; long r_ = (long)(call); int e_ = errno; \
       attack_bound_disarm(); errno = e_; r_; })

/* A SysV key derived from the run id and `tag`, recorded for run.sh's cleanup. */
static key_t attack_key(const char *tag) T_UNUSED;
static key_t attack_key(const char *tag)
{
    uint32_t h = t_fnv1a(tag, t_fnv1a(t_runid, 2166136261u));
    key_t key = (key_t)(0x10000000u + h % 0x60000000u);
    char k[32];
    snprintf(k, sizeof k, "0x%08x", (unsigned)key);
    t_record_cleanup("msgkey", k);
    return key;
}

/* ------------------------------------------------------------------------------------------ */
/* untrusted namespace directories                                                            */

/* Root's process under test (argv[1] "victim"): creating a queue of each API must fail with
 * EACCES; one that was created anyway is removed. */
static int attack_dir_victim(void) T_UNUSED;
static int attack_dir_victim(void)
{
    umask(022);
    struct mq_attr attr = { .mq_maxmsg = 4, .mq_msgsize = 32 };
    const char *name = t_qname("victim");
    mqd_t q = (mqd_t)EXPECT_ERR(mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0600, &attr), EACCES);
    if (q != (mqd_t)-1) {
        mq_close(q);
        mq_unlink(name);
    }
    int id = (int)EXPECT_ERR(msgget(attack_key("victim"), IPC_CREAT | IPC_EXCL | 0600), EACCES);
    if (id >= 0)
        msgctl(id, IPC_RMID, NULL);
    return t_finish();
}

/* Runs the victim with MQSHIM_DIR=`dir`; checks that it named `dir` on stderr (which goes to
 * the test's stderr too). */
static void attack_dir_run_victim(const char *dir) T_UNUSED;
static void attack_dir_run_victim(const char *dir)
{
    int err[2];
    t_pipe_cloexec(err);
    t_child c = t_spawn();
    if (c.pid == 0) {
        dup2(err[1], 2);
        T_REQUIRE(setenv("MQSHIM_DIR", dir, 1) == 0);
        T_REQUIRE(setenv("MQSHIM_BACKEND", "emulate", 1) == 0);
        char self[] = "/proc/self/exe", arg[] = "victim";
        char *args[] = { self, arg, NULL };
        execv(self, args);
        printf("HARNESS: cannot run the victim: %s\n", t_errno_name(errno));
        exit(98);
    }
    close(err[1]);
    t_join(&c, 0);
    char text[8192];
    size_t n = 0;
    ssize_t r;
    while (n < sizeof text - 1 && (r = read(err[0], text + n, sizeof text - 1 - n)) > 0)
        n += (size_t)r;
    text[n] = '\0';
    close(err[0]);
    fprintf(stderr, "victim's stderr for %s:\n%s", dir, text);
    t_check("stderr names the directory", strstr(text, dir) != NULL);
}

/* `path` (not followed) still has `mode` (type bits included) and owner `uid`, and when a
 * directory, is still empty. */
static void attack_dir_check_untouched(const char *what, const char *path, mode_t mode, uid_t uid) T_UNUSED;
static void attack_dir_check_untouched(const char *what, const char *path, mode_t mode, uid_t uid)
{
    struct stat st;
    int ok = lstat(path, &st) == 0 && st.st_mode == mode && st.st_uid == uid;
    if (!ok)
        fprintf(stderr, "%s: mode %o uid %d\n", path, (unsigned)st.st_mode, (int)st.st_uid);
    char label[160];
    snprintf(label, sizeof label, "%s: mode and owner unchanged", what);
    t_check(label, ok);
    if (!S_ISDIR(mode))
        return;
    int empty = 0;
    DIR *d = opendir(path);
    if (d) {
        empty = 1;
        struct dirent *e;
        while ((e = readdir(d)) != NULL)
            if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
                fprintf(stderr, "%s holds %s\n", path, e->d_name);
                empty = 0;
            }
        closedir(d);
    }
    snprintf(label, sizeof label, "%s: still empty", what);
    t_check(label, empty);
}

/* mkdir `path` with exactly `mode`, owned by `uid` (user and group). */
static void attack_dir_make(const char *path, mode_t mode, uid_t uid) T_UNUSED;
static void attack_dir_make(const char *path, mode_t mode, uid_t uid)
{
    T_REQUIRE(mkdir(path, 0700) == 0);
    T_REQUIRE(chown(path, uid, uid) == 0);
    T_REQUIRE(chmod(path, mode) == 0);
}

/* A fresh root-owned 0755 directory under /dev/shm for the test's directories, unique per run:
 * its path goes to `base`. */
static void attack_dir_base(char *base, size_t size) T_UNUSED;
static void attack_dir_base(char *base, size_t size)
{
    snprintf(base, size, "/dev/shm/mqt-nsattack-%s-%d", t_runid, (int)getpid());
    attack_dir_make(base, 0755, 0);
}

#endif /* MQT_ATTACK_H */
