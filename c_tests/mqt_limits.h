/* mqt_limits.h — the same limits on the kernel and under mqshim, for the limit tests.
 *
 * A limit test runs its body in one or more *phases*, each under a limits specification in
 * MQSHIM_LIMITS syntax ("msg_max=4,msgsize_max=256"):
 *
 *   - on the plain kernel (mqshim not loaded), the phase's child unshares a fresh user and IPC
 *     namespace (uid/gid maps "0 0 1") and writes the values to /proc/sys/fs/mqueue/... and
 *     /proc/sys/kernel/msg...: the kernel then enforces exactly those values, and the caller has
 *     no CAP_SYS_RESOURCE (that is judged in the initial user namespace), so no limit is lifted;
 *   - under mqshim, the phase's child re-executes the test (before any queue call) with
 *     MQSHIM_LIMITS set to the same specification, clears CAP_SYS_RESOURCE from its effective
 *     set (so mqshim and the kernel see an unprivileged caller, as in the reference) and
 *     unshares a fresh IPC namespace when it may (root): the kernel's own counts (msgmni's
 *     queue count) are then this test's alone, and every limit the specification leaves out
 *     has the fresh namespace's default in all three configurations, as in the reference.
 *     A phase with mode LIM_USERNS_ROOT instead enters a fresh user + IPC namespace under
 *     mqshim too (after the re-exec), with every capability in it, as the reference has.
 *
 * The transcript shows "-- limits <spec>" and the child's lines; it is the same in every
 * configuration when mqshim enforces the limits as the kernel does. Include after harness.h. */
#ifndef MQT_LIMITS_H
#define MQT_LIMITS_H

#include <sched.h>
#include <sys/resource.h>
#include "mqt_shim.h"

static void lim_write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        printf("HARNESS: cannot open %s (%s)\n", path, t_errno_name(errno));
        exit(97);
    }
    ssize_t n = write(fd, text, strlen(text));
    int e = errno;
    close(fd);
    if (n != (ssize_t)strlen(text)) {
        printf("HARNESS: cannot write '%s' to %s (%s)\n", text, path, t_errno_name(e));
        exit(97);
    }
}

static long lim_read_long(const char *path) T_UNUSED;
static long lim_read_long(const char *path)
{
    FILE *f = fopen(path, "r");
    long v = -1;
    if (f) {
        if (fscanf(f, "%ld", &v) != 1)
            v = -1;
        fclose(f);
    }
    return v;
}

/* The /proc file of a MQSHIM_LIMITS key (rlimit_msgqueue has none: see that test). */
static const char *lim_proc_path(const char *key)
{
    static const char *const map[][2] = {
        { "msg_max", "/proc/sys/fs/mqueue/msg_max" },
        { "msgsize_max", "/proc/sys/fs/mqueue/msgsize_max" },
        { "msg_default", "/proc/sys/fs/mqueue/msg_default" },
        { "msgsize_default", "/proc/sys/fs/mqueue/msgsize_default" },
        { "queues_max", "/proc/sys/fs/mqueue/queues_max" },
        { "msgmax", "/proc/sys/kernel/msgmax" },
        { "msgmnb", "/proc/sys/kernel/msgmnb" },
        { "msgmni", "/proc/sys/kernel/msgmni" },
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(map[i][0], key) == 0)
            return map[i][1];
    printf("HARNESS: no /proc file for limit '%s'\n", key);
    exit(97);
}

/* A fresh user + IPC namespace, root in it mapped to our uid and gid. */
static void lim_new_user_namespace(void)
{
    T_REQUIRE(unshare(CLONE_NEWUSER | CLONE_NEWIPC) == 0);
    lim_write_file("/proc/self/uid_map", "0 0 1");
    lim_write_file("/proc/self/setgroups", "deny");
    lim_write_file("/proc/self/gid_map", "0 0 1");
}

/* Reference: a fresh user + IPC namespace with `spec` written to its sysctls. */
static void lim_enter_kernel(const char *spec)
{
    lim_new_user_namespace();
    char buf[512];
    snprintf(buf, sizeof buf, "%s", spec);
    for (char *save = NULL, *kv = strtok_r(buf, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(kv, '=');
        T_REQUIRE(eq != NULL);
        *eq = '\0';
        const char *path = lim_proc_path(kv);
        lim_write_file(path, eq + 1);
        T_REQUIRE(lim_read_long(path) == strtol(eq + 1, NULL, 10));
    }
}

/* How a phase runs under mqshim (the reference always runs in a fresh user namespace). */
enum lim_mode {
    /* CAP_SYS_RESOURCE dropped, a fresh IPC namespace (when permitted) */
    LIM_UNPRIVILEGED,
    /* a fresh user + IPC namespace, as root in it with every capability *in it*, as the
     * reference: the kernel judges CAP_SYS_RESOURCE in the initial user namespace, so the
     * limits still apply (a rootless container's "root") */
    LIM_USERNS_ROOT,
};

/* Under mqshim, in the phase's child: re-executes this program with MQSHIM_LIMITS=spec (read
 * on the first queue call of the new image) and `exec_argv`. Does not return. */
static void lim_reexec(const char *spec, char *const *exec_argv)
{
    T_REQUIRE(setenv("MQSHIM_LIMITS", spec, 1) == 0);
    fflush(NULL);
    execv("/proc/self/exe", exec_argv);
    printf("HARNESS: re-exec failed (%s)\n", t_errno_name(errno));
    exit(97);
}

/* Under mqshim, in the re-executed phase child, before any queue call: drops CAP_SYS_RESOURCE
 * and isolates the IPC namespace, or enters a user namespace (`mode`). */
static void lim_enter_shim(const char *spec, enum lim_mode mode)
{
    const char *cur = getenv("MQSHIM_LIMITS");
    T_REQUIRE(cur && strcmp(cur, spec) == 0);
    if (mode == LIM_USERNS_ROOT) {
        lim_new_user_namespace();
        return;
    }
    shim_drop_cap_sys_resource();
    if (unshare(CLONE_NEWIPC) != 0 && errno != EPERM) {
        printf("HARNESS: unshare(CLONE_NEWIPC) failed (%s)\n", t_errno_name(errno));
        exit(97);
    }
}

/* One phase: a specification and the body that runs under it (in a child process). */
struct lim_phase {
    const char *spec;
    void (*body)(void);
    enum lim_mode mode;
};

static void lim_end_child(void)
{
    t_finished = 1;                   /* the body removed what it created */
    exit(t_child_status());
}

/* The test's main: `lim_main(argc, argv, phases, n)`. Each phase runs in a child whose
 * transcript joins the parent's; the exit status is the harness's. */
static int lim_main(int argc, char **argv, const struct lim_phase *phases, int n) T_UNUSED;
static int lim_main(int argc, char **argv, const struct lim_phase *phases, int n)
{
    if (argc == 3 && strcmp(argv[1], "--lim-phase") == 0) {
        /* The re-executed child of a shim run: stdout is already the parent's pipe. */
        int k = atoi(argv[2]);
        T_REQUIRE(k >= 0 && k < n && shim_loaded());
        t_is_child = 1;
        lim_enter_shim(phases[k].spec, phases[k].mode);
        phases[k].body();
        lim_end_child();
    }
    int shim = shim_loaded();
    for (int k = 0; k < n; k++) {
        t_say("-- limits %s", phases[k].spec);
        t_child c = t_spawn();
        if (c.pid == 0) {
            if (shim) {
                char index[16];
                snprintf(index, sizeof index, "%d", k);
                char *args[] = { argv[0], (char *)"--lim-phase", index, NULL };
                lim_reexec(phases[k].spec, args);       /* does not return */
            }
            lim_enter_kernel(phases[k].spec);
            phases[k].body();
            lim_end_child();
        }
        t_join(&c, 0);
    }
    return t_finish();
}

/* ------------------------------------------------------------------------------------------ */
/* RLIMIT_MSGQUEUE tests (posix_limit_rlimit_msgqueue_emfile.c & co.): the limit is a per-user
 * resource limit, not a namespace's value, so these tests run their own children instead of
 * phases: on the kernel a child that became a fresh uid sets RLIMIT_MSGQUEUE itself; under
 * mqshim the whole test runs again with MQSHIM_LIMITS=<spec> (rlimit_msgqueue=N). */

/* Call first in main: under mqshim, re-executes the test with MQSHIM_LIMITS=`spec` unless it
 * already has it (does not return then). Returns whether mqshim is loaded. */
static int lim_rlimit_reexec(const char *spec, char **argv) T_UNUSED;
static int lim_rlimit_reexec(const char *spec, char **argv)
{
    if (!shim_loaded())
        return 0;
    const char *cur = getenv("MQSHIM_LIMITS");
    if (!cur || strcmp(cur, spec) != 0)
        lim_reexec(spec, argv);
    return 1;
}

/* In a child: become user and group `uid`, with no supplementary groups and no
 * CAP_SYS_RESOURCE (so no limit is lifted), a fresh uid nothing else is charged to. */
static void lim_become_uid(uid_t uid) T_UNUSED;
static void lim_become_uid(uid_t uid)
{
    shim_drop_cap_sys_resource();
    t_become(uid);
}

/* On the kernel (not under mqshim, whose limit came with MQSHIM_LIMITS): this process's
 * RLIMIT_MSGQUEUE soft limit becomes `bytes`. */
static void lim_set_rlimit_msgqueue(long bytes) T_UNUSED;
static void lim_set_rlimit_msgqueue(long bytes)
{
    struct rlimit rl;
    T_REQUIRE(getrlimit(RLIMIT_MSGQUEUE, &rl) == 0);
    T_REQUIRE(rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= (rlim_t)bytes);
    rl.rlim_cur = (rlim_t)bytes;
    T_REQUIRE(setrlimit(RLIMIT_MSGQUEUE, &rl) == 0);
}

/* Ends a "create ... -> <result>" line: a creation `q` (errno `e`) that is not what was wanted
 * (`want_errno`, 0 for success) is a failure, marked on the line. */
static void lim_end_create_line(mqd_t q, int e, int want_errno) T_UNUSED;
static void lim_end_create_line(mqd_t q, int e, int want_errno)
{
    if (want_errno ? !(q == (mqd_t)-1 && e == want_errno) : q == (mqd_t)-1) {
        t_failures++;
        printf("  !! MISMATCH: expected %s", want_errno ? t_errno_name(want_errno) : "ok");
    }
    printf("\n");
}

/* Creates queue `tag` (O_EXCL, read-write) of maxmsg x msgsize with exactly `mode` (no
 * umask), printing "create TAG (M x S) -> <result>", a result other than `want_errno` (0:
 * success) marked as a failure. */
static mqd_t lim_create(const char *tag, long maxmsg, long msgsize, mode_t mode, int want_errno) T_UNUSED;
static mqd_t lim_create(const char *tag, long maxmsg, long msgsize, mode_t mode, int want_errno)
{
    struct mq_attr attr = { .mq_maxmsg = maxmsg, .mq_msgsize = msgsize };
    mode_t old = umask(0);
    errno = 0;
    mqd_t q = mq_open(t_qname(tag), O_RDWR | O_CREAT | O_EXCL, mode, &attr);
    int e = errno;
    umask(old);
    printf("create %s (%ld x %ld) -> %s", tag, maxmsg, msgsize, q == (mqd_t)-1 ? t_errno_name(e) : "ok");
    lim_end_create_line(q, e, want_errno);
    return q;
}

#endif /* MQT_LIMITS_H */
