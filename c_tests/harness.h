/* harness.h — shared helpers for mqshim's C tests (header only: every test is one file).
 *
 * A test prints a *transcript* on stdout that run.sh compares across configurations (kernel,
 * LD_PRELOADed shim, ...). A transcript holds results, errno names, orderings and message
 * contents — never pids, ids, times or queue names, which differ from run to run.
 *
 * What including this header gives a test:
 *   - every mq_* / msg* call it makes is counted per function name (the macros at the end wrap
 *     the real calls; mqt_shim.h's shim_mq_send_at & co. count mqshim's own); at exit each process appends its counts, in one write(2), to the file
 *     named by $MQT_CALLS, so run.sh can check them against the shim's trace;
 *   - EXPECT_OK / EXPECT_EQ / EXPECT_ERR: run a call, print "<call> -> <result>", remember a
 *     mismatch with the kernel behaviour the test pins; t_finish() turns mismatches into the
 *     exit status;
 *   - per-run queue names (t_qname) and SysV queues on per-run keys (t_msgget_new);
 *   - t_fork / t_reap / t_chan (pipe handshakes) / t_wait_blocked (poll /proc/PID/stat) so no
 *     test sleeps to synchronise; t_become(uid) (T_NOBODY, say) to act as another user;
 *   - a watchdog: after $MQT_TIMEOUT (default 20) seconds the test prints TIMEOUT, kills its
 *     children and exits 99.
 *
 * Include it after any other header that declares mq_* or msg* functions.
 */
#ifndef MQT_HARNESS_H
#define MQT_HARNESS_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <mqueue.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define T_UNUSED __attribute__((unused))

/* ------------------------------------------------------------------------------------------ */
/* errno names                                                                                */

static const char *t_errno_name(int e) T_UNUSED;
static const char *t_errno_name(int e)
{
    switch (e) {
    case 0: return "0";
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case ESRCH: return "ESRCH";
    case EINTR: return "EINTR";
    case EIO: return "EIO";
    case ENXIO: return "ENXIO";
    case E2BIG: return "E2BIG";
    case ENOEXEC: return "ENOEXEC";
    case EBADF: return "EBADF";
    case ECHILD: return "ECHILD";
    case EAGAIN: return "EAGAIN";
    case ENOMEM: return "ENOMEM";
    case EACCES: return "EACCES";
    case EFAULT: return "EFAULT";
    case EBUSY: return "EBUSY";
    case EEXIST: return "EEXIST";
    case EXDEV: return "EXDEV";
    case ENODEV: return "ENODEV";
    case ENOTDIR: return "ENOTDIR";
    case EISDIR: return "EISDIR";
    case EINVAL: return "EINVAL";
    case ENFILE: return "ENFILE";
    case EMFILE: return "EMFILE";
    case ENOTTY: return "ENOTTY";
    case EFBIG: return "EFBIG";
    case ENOSPC: return "ENOSPC";
    case ESPIPE: return "ESPIPE";
    case EROFS: return "EROFS";
    case EMLINK: return "EMLINK";
    case EPIPE: return "EPIPE";
    case EDOM: return "EDOM";
    case ERANGE: return "ERANGE";
    case EDEADLK: return "EDEADLK";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case ENOLCK: return "ENOLCK";
    case ENOSYS: return "ENOSYS";
    case ENOTEMPTY: return "ENOTEMPTY";
    case ELOOP: return "ELOOP";
    case ENOMSG: return "ENOMSG";
    case EIDRM: return "EIDRM";
    case ENOSTR: return "ENOSTR";
    case ENODATA: return "ENODATA";
    case ETIME: return "ETIME";
    case EOVERFLOW: return "EOVERFLOW";
    case EILSEQ: return "EILSEQ";
    case EMSGSIZE: return "EMSGSIZE";
    case ENOTSUP: return "ENOTSUP";
    case ETIMEDOUT: return "ETIMEDOUT";
    case ECANCELED: return "ECANCELED";
    case EOWNERDEAD: return "EOWNERDEAD";
    case ENOTRECOVERABLE: return "ENOTRECOVERABLE";
    default: {
        static char other[32];
        snprintf(other, sizeof other, "E#%d", e);
        return other;
    }
    }
}

/* ------------------------------------------------------------------------------------------ */
/* per-function call counts                                                                   */

enum t_fn {
    T_MQ_OPEN, T_MQ_CLOSE, T_MQ_UNLINK, T_MQ_SEND, T_MQ_TIMEDSEND, T_MQ_RECEIVE,
    T_MQ_TIMEDRECEIVE, T_MQ_GETATTR, T_MQ_SETATTR, T_MQ_NOTIFY,
    T_MSGGET, T_MSGSND, T_MSGRCV, T_MSGCTL,
    /* mqshim's own calls, counted by the shim_* wrappers of mqt_shim.h */
    T_MQSHIM_MQ_SEND_AT, T_MQSHIM_MQ_CANCEL, T_MQSHIM_MSGSND_AT, T_MQSHIM_MSG_CANCEL,
    T_FN_COUNT
};
static const char *const t_fn_names[T_FN_COUNT] T_UNUSED = {
    "mq_open", "mq_close", "mq_unlink", "mq_send", "mq_timedsend", "mq_receive",
    "mq_timedreceive", "mq_getattr", "mq_setattr", "mq_notify",
    "msgget", "msgsnd", "msgrcv", "msgctl",
    "mqshim_mq_send_at", "mqshim_mq_cancel", "mqshim_msgsnd_at", "mqshim_msg_cancel",
};
static unsigned long t_counts[T_FN_COUNT];
static int t_uncounted_flag;

static inline void t_count(enum t_fn f) { t_counts[f]++; }

/* A test that kills processes on purpose (their calls may be cut short) declares itself
 * uncounted: run.sh then skips the trace-count check for it. */
static void t_uncounted(void) T_UNUSED;
static void t_uncounted(void) { t_uncounted_flag = 1; }

/* The report files ($MQT_CALLS, $MQT_CLEANUP) are opened once, at start-up, and the
 * descriptors kept (close-on-exec): forked children inherit them, so a child that dropped
 * its privileges (setuid nobody) can still report. */
static int t_calls_fd = -1;
static int t_cleanup_fd = -1;

static int t_open_report(const char *env)
{
    const char *path = getenv(env);
    if (!path || !*path)
        return -1;
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
}

static void t_write_counts(void)
{
    if (t_calls_fd < 0)
        return;
    char buf[1024];
    size_t n = 0;
    if (t_uncounted_flag)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "# uncounted\n");
    for (int i = 0; i < T_FN_COUNT; i++)
        if (t_counts[i] && n < sizeof buf)
            n += (size_t)snprintf(buf + n, sizeof buf - n, "%s %lu\n", t_fn_names[i], t_counts[i]);
    if (n == 0)
        return;
    if (n > sizeof buf)
        n = sizeof buf;
    if (write(t_calls_fd, buf, n) != (ssize_t)n) { /* nothing sensible to do at exit */ }
}

/* ------------------------------------------------------------------------------------------ */
/* run identity, names, keys, cleanup list                                                    */

static char t_runid[96];
static pid_t t_main_pid;
static int t_is_child;
static int t_finished;
static int t_failures;

#ifndef T_MAX_OBJS
#define T_MAX_OBJS 64                       /* a test that makes more defines it first */
#endif
static char *t_names[T_MAX_OBJS];
static int t_nnames;
static int t_msqids[T_MAX_OBJS];
static int t_nmsqids;

static void t_record_cleanup(const char *kind, const char *what)
{
    if (t_cleanup_fd < 0)
        return;
    char line[512];
    int n = snprintf(line, sizeof line, "%s %s\n", kind, what);
    if (n <= 0 || n >= (int)sizeof line)
        return;
    if (write(t_cleanup_fd, line, (size_t)n) != n) { /* best effort */ }
}

static const char *t_register_name(const char *name)
{
    for (int i = 0; i < t_nnames; i++)
        if (strcmp(t_names[i], name) == 0)
            return t_names[i];
    if (t_nnames == T_MAX_OBJS) {
        printf("HARNESS: too many queue names\n");
        exit(98);
    }
    t_names[t_nnames] = strdup(name);
    t_record_cleanup("mq", name);
    return t_names[t_nnames++];
}

/* "/mqt-<runid>-<tag>"; the same tag gives the same name within a run. The name is recorded
 * so that run.sh (and the exit handler of a test that did not finish) can remove the queue. */
static const char *t_qname(const char *tag) T_UNUSED;
static const char *t_qname(const char *tag)
{
    char buf[300];
    snprintf(buf, sizeof buf, "/mqt-%s-%s", t_runid, tag);
    return t_register_name(buf);
}

/* "/mqt-<runid>-<tag>-xxx...x" with exactly `len` characters after the slash. */
static const char *t_qname_len(const char *tag, size_t len) T_UNUSED;
static const char *t_qname_len(const char *tag, size_t len)
{
    char buf[600];
    int p = snprintf(buf, sizeof buf, "/mqt-%s-%s-", t_runid, tag);
    if (p < 0 || len + 2 > sizeof buf || len + 1 < (size_t)p) {
        printf("HARNESS: bad name length\n");
        exit(98);
    }
    memset(buf + p, 'x', len + 1 - (size_t)p);
    buf[1 + len] = '\0';
    if (len > 255)              /* can never be created: nothing to clean up */
        return strdup(buf);
    return t_register_name(buf);
}

/* pipe() with both ends close-on-exec (pipe2 needs _GNU_SOURCE before the first header). */
static void t_pipe_cloexec(int fds[2])
{
    if (pipe(fds) != 0) {
        printf("HARNESS: pipe failed\n");
        exit(98);
    }
    fcntl(fds[0], F_SETFD, FD_CLOEXEC);
    fcntl(fds[1], F_SETFD, FD_CLOEXEC);
}

static uint32_t t_fnv1a(const char *s, uint32_t h)
{
    while (*s)
        h = (h ^ (unsigned char)*s++) * 16777619u;
    return h;
}

/* ------------------------------------------------------------------------------------------ */
/* children                                                                                   */

#define T_MAX_CHILDREN 32
static pid_t t_children[T_MAX_CHILDREN];
static int t_nchildren;

static unsigned t_timeout_seconds(void)
{
    const char *s = getenv("MQT_TIMEOUT");
    long v = s ? strtol(s, NULL, 10) : 0;
    return v > 0 ? (unsigned)v : 20;
}

static void t_on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "TIMEOUT\n";
    if (write(1, msg, sizeof msg - 1) < 0) { /* exiting anyway */ }
    for (int i = 0; i < t_nchildren; i++)
        if (t_children[i] > 0)
            kill(t_children[i], SIGKILL);
    _exit(99);
}

/* fork() for tests: flushes stdio first (a child must not repeat the parent's buffered
 * output), resets the child's call counts (it reports its own at exit), arms the child's
 * watchdog and makes the child die with its parent. Children end with exit(), not _exit(). */
static pid_t t_fork(void) T_UNUSED;
static pid_t t_fork(void)
{
    fflush(NULL);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        printf("HARNESS: fork failed: %s\n", t_errno_name(errno));
        exit(98);
    }
    if (pid == 0) {
        memset(t_counts, 0, sizeof t_counts);
        t_nchildren = 0;
        t_is_child = 1;
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)    /* parent died before prctl took effect */
            _exit(98);
        alarm(t_timeout_seconds());
        return 0;
    }
    if (t_nchildren < T_MAX_CHILDREN)
        t_children[t_nchildren++] = pid;
    return pid;
}

/* Wait for a child; returns its exit code, or 128+signal. Bounded by the watchdog. */
static int t_reap(pid_t pid) T_UNUSED;
static int t_reap(pid_t pid)
{
    int status;
    pid_t r;
    do
        r = waitpid(pid, &status, 0);
    while (r < 0 && errno == EINTR);
    for (int i = 0; i < t_nchildren; i++)
        if (t_children[i] == pid)
            t_children[i] = 0;
    if (r < 0)
        return -1;
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return 128 + WTERMSIG(status);
}

/* A child whose stdout is captured: t_spawn() forks (via t_fork) and, in the child, sends
 * stdout into a pipe; the parent later calls t_join(), which copies the child's lines into
 * the transcript (prefixed "  child| ") once the child has finished, reaps it and prints its
 * exit code. So the transcript never depends on how parent and child are scheduled.
 * In the child, .pid is 0; the child ends with exit(t_child_status()). */
typedef struct { pid_t pid; int out; } t_child;

static t_child t_spawn(void) T_UNUSED;
static t_child t_spawn(void)
{
    int fds[2];
    t_pipe_cloexec(fds);
    t_child c;
    c.pid = t_fork();
    if (c.pid == 0) {
        close(fds[0]);
        dup2(fds[1], 1);
        close(fds[1]);
        t_failures = 0;
        c.out = -1;
        return c;
    }
    close(fds[1]);
    c.out = fds[0];
    return c;
}

static int t_child_status(void) T_UNUSED;
static int t_child_status(void) { fflush(stdout); return t_failures ? 1 : 0; }

static void t_join(t_child *c, int expected_exit) T_UNUSED;
static void t_join(t_child *c, int expected_exit)
{
    char buf[4096];
    char line[1024];
    size_t ln = 0;
    for (;;) {
        ssize_t n = read(c->out, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        for (ssize_t i = 0; i < n; i++) {
            if (buf[i] == '\n' || ln == sizeof line - 1) {
                line[ln] = '\0';
                printf("  child| %s\n", line);
                ln = 0;
            } else {
                line[ln++] = buf[i];
            }
        }
    }
    if (ln) {
        line[ln] = '\0';
        printf("  child| %s\n", line);
    }
    close(c->out);
    int code = t_reap(c->pid);
    printf("child exit -> %d", code);
    if (code != expected_exit) {
        t_failures++;
        printf("  !! MISMATCH: expected %d", expected_exit);
    }
    printf("\n");
}

/* Pipe handshake: t_chan_post() writes one byte, t_chan_wait() reads one (blocking,
 * bounded by the watchdog). Create before t_fork(); each side uses the direction it needs. */
typedef struct { int rd, wr; } t_chan;

static t_chan t_chan_open(void) T_UNUSED;
static t_chan t_chan_open(void)
{
    int fds[2];
    t_pipe_cloexec(fds);
    t_chan c = { fds[0], fds[1] };
    return c;
}

static void t_chan_post(t_chan *c) T_UNUSED;
static void t_chan_post(t_chan *c)
{
    char b = 1;
    while (write(c->wr, &b, 1) != 1)
        if (errno != EINTR) {
            printf("HARNESS: handshake write failed\n");
            exit(98);
        }
}

static void t_chan_wait(t_chan *c) T_UNUSED;
static void t_chan_wait(t_chan *c)
{
    char b;
    for (;;) {
        ssize_t r = read(c->rd, &b, 1);
        if (r == 1)
            return;
        if (r < 0 && errno == EINTR)
            continue;
        printf("HARNESS: handshake peer gone\n");
        exit(98);
    }
}

/* Process state letter from /proc/PID/stat ('R', 'S', 'D', 'Z', ...), or 0. */
static char t_proc_state(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    return (p && p[1] == ' ') ? p[2] : 0;
}

/* After a handshake that says "I am about to block", poll the child's state until it is
 * sleeping ('S') on three consecutive polls 1 ms apart — bounded to 5 s. Prints
 * "child is blocked" (or a mismatch) so the transcript shows the ordering. */
static int t_wait_blocked(pid_t pid) T_UNUSED;
static int t_wait_blocked(pid_t pid)
{
    int streak = 0;
    for (int i = 0; i < 5000; i++) {
        char s = t_proc_state(pid);
        streak = (s == 'S') ? streak + 1 : 0;
        if (streak >= 3) {
            printf("child is blocked\n");
            return 1;
        }
        struct timespec ms = { 0, 1000000 };
        nanosleep(&ms, NULL);
    }
    printf("child is blocked -> NO (state never 'S')  !! MISMATCH\n");
    t_failures++;
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* expectations                                                                               */

enum t_want { T_WANT_OK, T_WANT_EQ, T_WANT_ERR };

static long t_expect(const char *what, long r, int e, enum t_want want, long arg) T_UNUSED;
static long t_expect(const char *what, long r, int e, enum t_want want, long arg)
{
    int bad;
    if (r == -1)
        printf("%s -> -1 %s", what, t_errno_name(e));
    else if (want == T_WANT_OK)
        printf("%s -> ok", what);
    else
        printf("%s -> %ld", what, r);
    switch (want) {
    case T_WANT_OK: bad = (r < 0); break;
    case T_WANT_EQ: bad = (r != arg); break;
    default: bad = !(r == -1 && e == arg); break;
    }
    if (bad) {
        t_failures++;
        if (want == T_WANT_ERR)
            printf("  !! MISMATCH: expected -1 %s", t_errno_name((int)arg));
        else if (want == T_WANT_EQ)
            printf("  !! MISMATCH: expected %ld", arg);
        else
            printf("  !! MISMATCH: expected success");
    }
    printf("\n");
    errno = e;
    return r;
}

/* Each evaluates `call` once and yields its result (as long). errno is captured right after
 * the call and restored afterwards. */
#define EXPECT_OK(call) \
    ({ errno = 0; long t_r_ = (long)(call); int t_e_ = errno; \
       t_expect(#call, t_r_, t_e_, T_WANT_OK, 0); })
#define EXPECT_EQ(call, want) \
    ({ errno = 0; long t_r_ = (long)(call); int t_e_ = errno; \
       t_expect(#call, t_r_, t_e_, T_WANT_EQ, (long)(want)); })
#define EXPECT_ERR(call, err) \
    ({ errno = 0; long t_r_ = (long)(call); int t_e_ = errno; \
       t_expect(#call, t_r_, t_e_, T_WANT_ERR, (long)(err)); })

/* Free-form transcript line. */
#define t_say(...) ((void)printf(__VA_ARGS__), (void)printf("\n"))

/* A fact checked by the test itself (not a call): prints "<label>: yes|no". */
static int t_check(const char *label, int cond) T_UNUSED;
static int t_check(const char *label, int cond)
{
    printf("%s: %s", label, cond ? "yes" : "no");
    if (!cond) {
        t_failures++;
        printf("  !! MISMATCH: expected yes");
    }
    printf("\n");
    return cond;
}

/* Setup steps whose failure makes the rest of the test meaningless. */
#define T_REQUIRE(cond) \
    do { if (!(cond)) { printf("HARNESS: requirement failed: %s (errno %s)\n", #cond, \
                               t_errno_name(errno)); exit(97); } } while (0)

/* The user tests act as when another user's view matters. */
#define T_NOBODY 65534

/* In a child (t_spawn): become user and group `uid` with the supplementary `groups` (t_become:
 * none), as another user would be; the child still dies with its parent (the credential change
 * cleared that). */
static void t_become_in_groups(uid_t uid, int ngroups, const gid_t *groups) T_UNUSED;
static void t_become_in_groups(uid_t uid, int ngroups, const gid_t *groups)
{
    T_REQUIRE(setgroups((size_t)ngroups, groups) == 0);
    T_REQUIRE(setgid(uid) == 0);
    T_REQUIRE(setuid(uid) == 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
}
static void t_become(uid_t uid) T_UNUSED;
static void t_become(uid_t uid)
{
    t_become_in_groups(uid, 0, NULL);
}

/* t_become(T_NOBODY), with root's group as its one supplementary group when `in_root_group`
 * (so that a root-group class applies to it). */
static void t_become_nobody(int in_root_group) T_UNUSED;
static void t_become_nobody(int in_root_group)
{
    static const gid_t root_group = 0;
    t_become_in_groups(T_NOBODY, in_root_group ? 1 : 0, &root_group);
}

/* Lets the coarse clock (the one file timestamps come from) move on twice, so that everything
 * changed before is at least a tick older than anything after. Waits for time itself, not for
 * another process: under mqshim, what a process remembers of a queue (its owner and mode) is
 * used again only once the queue's last change is a tick old, so a test of that memory first
 * lets a tick pass. Bounded by two ticks of the clock (a few ms). */
static void t_let_the_clock_tick(void) T_UNUSED;
static void t_let_the_clock_tick(void)
{
    struct timespec last, now;
    clock_gettime(CLOCK_REALTIME_COARSE, &last);
    for (int ticks = 0; ticks < 2;) {
        usleep(500);
        clock_gettime(CLOCK_REALTIME_COARSE, &now);
        if (now.tv_sec != last.tv_sec || now.tv_nsec != last.tv_nsec) {
            ticks++;
            last = now;
        }
    }
}

/* Message text as printable ASCII, anything else as \xNN. */
static void t_print_text(const char *buf, long len)
{
    for (long i = 0; i < len; i++) {
        unsigned char c = (unsigned char)buf[i];
        if (c >= 32 && c < 127 && c != '"' && c != '\\')
            putchar(c);
        else
            printf("\\x%02x", c);
    }
}

/* Print a received POSIX message: text, length, priority. */
static void t_show_msg(const char *label, const char *buf, long len, long prio) T_UNUSED;
static void t_show_msg(const char *label, const char *buf, long len, long prio)
{
    printf("%s: \"", label);
    t_print_text(buf, len);
    printf("\" len %ld prio %ld\n", len, prio);
}

/* Print a received SysV message: text, length, mtype. */
static void t_show_typed(const char *label, const char *buf, long len, long type) T_UNUSED;
static void t_show_typed(const char *label, const char *buf, long len, long type)
{
    printf("%s: \"", label);
    t_print_text(buf, len);
    printf("\" len %ld type %ld\n", len, type);
}

/* Last line of every transcript; the exit status says whether the kernel behaviour the
 * test pins was observed. */
static int t_finish(void) T_UNUSED;
static int t_finish(void)
{
    t_finished = 1;
    if (t_failures)
        printf("end: %d mismatches\n", t_failures);
    else
        printf("end: ok\n");
    fflush(stdout);
    return t_failures ? 1 : 0;
}

/* ------------------------------------------------------------------------------------------ */
/* init and exit                                                                              */

static void t_at_exit(void);

__attribute__((constructor)) static void t_init(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    t_main_pid = getpid();
    t_calls_fd = t_open_report("MQT_CALLS");
    t_cleanup_fd = t_open_report("MQT_CLEANUP");
    const char *id = getenv("MQT_RUNID");
    if (id && *id)
        snprintf(t_runid, sizeof t_runid, "%s", id);
    else
        snprintf(t_runid, sizeof t_runid, "%d-%ld", (int)getpid(), (long)time(NULL));
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = t_on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    alarm(t_timeout_seconds());
    atexit(t_at_exit);
}

/* Declared before the wrapping macros so the exit handler's own calls are counted too. */
static void t_cleanup_unfinished(void);

static void t_at_exit(void)
{
    fflush(stdout);
    if (!t_is_child && !t_finished)
        t_cleanup_unfinished();
    t_write_counts();
}

/* ------------------------------------------------------------------------------------------ */
/* The counting wrappers. From here on every mq_* / msg* call in a test (and in the harness
 * below) is counted under its library-level name — `mq_open` also when fortify turns a
 * two-argument call into __mq_open_2, matching the shim's trace.                             */

#define mq_open(...)          (t_count(T_MQ_OPEN), mq_open(__VA_ARGS__))
#define mq_close(...)         (t_count(T_MQ_CLOSE), mq_close(__VA_ARGS__))
#define mq_unlink(...)        (t_count(T_MQ_UNLINK), mq_unlink(__VA_ARGS__))
#define mq_send(...)          (t_count(T_MQ_SEND), mq_send(__VA_ARGS__))
#define mq_timedsend(...)     (t_count(T_MQ_TIMEDSEND), mq_timedsend(__VA_ARGS__))
#define mq_receive(...)       (t_count(T_MQ_RECEIVE), mq_receive(__VA_ARGS__))
#define mq_timedreceive(...)  (t_count(T_MQ_TIMEDRECEIVE), mq_timedreceive(__VA_ARGS__))
#define mq_getattr(...)       (t_count(T_MQ_GETATTR), mq_getattr(__VA_ARGS__))
#define mq_setattr(...)       (t_count(T_MQ_SETATTR), mq_setattr(__VA_ARGS__))
#define mq_notify(...)        (t_count(T_MQ_NOTIFY), mq_notify(__VA_ARGS__))
#define msgget(...)           (t_count(T_MSGGET), msgget(__VA_ARGS__))
#define msgsnd(...)           (t_count(T_MSGSND), msgsnd(__VA_ARGS__))
#define msgrcv(...)           (t_count(T_MSGRCV), msgrcv(__VA_ARGS__))
#define msgctl(...)           (t_count(T_MSGCTL), msgctl(__VA_ARGS__))

/* Create a fresh SysV queue on a key derived from the run id and `tag`
 * (msgget(key, IPC_CREAT|IPC_EXCL|mode), moving to another key on EEXIST). */
static int t_msgget_new(const char *tag, int mode, key_t *key_out) T_UNUSED;
static int t_msgget_new(const char *tag, int mode, key_t *key_out)
{
    uint32_t h = t_fnv1a(tag, t_fnv1a(t_runid, 2166136261u));
    for (int attempt = 0; attempt < 64; attempt++) {
        key_t key = (key_t)(0x10000000u + (h + (uint32_t)attempt * 7919u) % 0x60000000u);
        int id = msgget(key, IPC_CREAT | IPC_EXCL | mode);
        if (id >= 0) {
            char k[32];
            snprintf(k, sizeof k, "0x%08x", (unsigned)key);
            t_record_cleanup("msgkey", k);
            if (t_nmsqids < T_MAX_OBJS)
                t_msqids[t_nmsqids++] = id;
            if (key_out)
                *key_out = key;
            return id;
        }
        if (errno != EEXIST)
            break;
    }
    printf("HARNESS: cannot create a SysV queue (%s)\n", t_errno_name(errno));
    exit(97);
}

/* Chooses `n` consecutive keys of the run's own that no queue has (a queue made on the first,
 * by t_msgget_new with `tag` and a number, to find a free run, and removed again), recorded for
 * the runner's cleanup: for tests whose processes make and remove the keys' queues themselves. */
static void t_msgkeys_free(const char *tag, int n, key_t *keys) T_UNUSED;
static void t_msgkeys_free(const char *tag, int n, key_t *keys)
{
    for (int attempt = 0; attempt < 16; attempt++) {
        char tagged[64];
        snprintf(tagged, sizeof tagged, "%s%d", tag, attempt);
        key_t base;
        int id = t_msgget_new(tagged, 0600, &base);
        T_REQUIRE(msgctl(id, IPC_RMID, NULL) == 0);
        int free = 1;
        for (int k = 0; k < n && free; k++) {
            keys[k] = base + k;
            free = msgget(keys[k], 0) < 0 && errno == ENOENT;
        }
        if (free) {
            for (int k = 0; k < n; k++) {
                char name[32];
                snprintf(name, sizeof name, "0x%08x", (unsigned)keys[k]);
                t_record_cleanup("msgkey", name);
            }
            return;
        }
    }
    T_REQUIRE(!"no run of free keys");
}

/* Create a POSIX queue (O_RDWR|O_CREAT|O_EXCL, mode 0600) with maxmsg/msgsize, or the
 * defaults when maxmsg is 0. Setup helper: prints nothing. */
static mqd_t t_mq_create(const char *tag, long maxmsg, long msgsize, int extra_flags) T_UNUSED;
static mqd_t t_mq_create(const char *tag, long maxmsg, long msgsize, int extra_flags)
{
    struct mq_attr a;
    memset(&a, 0, sizeof a);
    a.mq_maxmsg = maxmsg;
    a.mq_msgsize = msgsize;
    mqd_t q = mq_open(t_qname(tag), O_RDWR | O_CREAT | O_EXCL | extra_flags, 0600,
                      maxmsg ? &a : NULL);
    T_REQUIRE(q != (mqd_t)-1);
    return q;
}

static void t_cleanup_unfinished(void)
{
    for (int i = 0; i < t_nnames; i++)
        mq_unlink(t_names[i]);
    for (int i = 0; i < t_nmsqids; i++)
        msgctl(t_msqids[i], IPC_RMID, NULL);
}

/* An absolute CLOCK_REALTIME deadline `delta_ms` from now (negative: already expired). */
static struct timespec t_deadline_ms(long delta_ms) T_UNUSED;
static struct timespec t_deadline_ms(long delta_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    long long ns = (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec + (long long)delta_ms * 1000000LL;
    ts.tv_sec = (time_t)(ns / 1000000000LL);
    ts.tv_nsec = (long)(ns % 1000000000LL);
    return ts;
}

/* SysV message buffer used by the tests. */
struct t_msg {
    long mtype;
    char mtext[256];
};

#endif /* MQT_HARNESS_H */
