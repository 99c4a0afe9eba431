/* mqt_shim.h — helpers for tests that need mqshim's own environment variables: whether mqshim
 * is loaded, dropping CAP_SYS_RESOURCE, and running a *phase* of the test in a child that
 * re-executes the test program with a variable set (MQSHIM_FAULTS, MQSHIM_LIMITS are read once,
 * on a process's first queue call, so a new value needs a new program image).
 *
 * A phase child's stdout joins the transcript (t_spawn/t_join: "  child| ..." lines, then
 * "child exit -> N"); its stderr and its descriptor 3 can be captured for the parent to look
 * at. The re-executed program finds itself in a phase through argv ("--phase NAME [ARG]") and
 * runs that phase's code instead of main's. Include after harness.h. */
#ifndef MQT_SHIM_H
#define MQT_SHIM_H

#include <dlfcn.h>
#include "../include/mqshim.h"
#include <linux/capability.h>
#include <sys/syscall.h>

/* Whether mqshim is in the process (LD_PRELOAD or -lmqshim). Does not call into it. */
static int shim_loaded(void) T_UNUSED;
static int shim_loaded(void)
{
    return dlsym(RTLD_DEFAULT, "mqshim_version") != NULL;
}

/* Clears CAP_SYS_RESOURCE from the effective set (harmless when it is not there), so that the
 * limits apply to this process as to an unprivileged one — for mqshim and the kernel alike. */
static void shim_drop_cap_sys_resource(void) T_UNUSED;
static void shim_drop_cap_sys_resource(void)
{
    struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
    struct __user_cap_data_struct d[2];
    T_REQUIRE(syscall(SYS_capget, &h, d) == 0);
    d[CAP_TO_INDEX(CAP_SYS_RESOURCE)].effective &= ~CAP_TO_MASK(CAP_SYS_RESOURCE);
    T_REQUIRE(syscall(SYS_capset, &h, d) == 0);
}

/* In a re-executed phase child: the phase name (and *arg its argument, or NULL); else NULL. */
static const char *shim_phase(int argc, char **argv, const char **arg) T_UNUSED;
static const char *shim_phase(int argc, char **argv, const char **arg)
{
    if (argc < 3 || strcmp(argv[1], "--phase") != 0)
        return NULL;
    t_is_child = 1;                 /* its parent reports and cleans up */
    if (arg)
        *arg = argc > 3 ? argv[3] : NULL;
    return argv[2];
}

/* The end of a phase child: its exit status says whether its expectations held. */
static void shim_phase_end(void) T_UNUSED;
static void shim_phase_end(void)
{
    t_finished = 1;
    exit(t_child_status());
}

/* What a phase child wrote to the captured descriptors (NUL-terminated). */
struct shim_capture {
    char err[16384];                /* stderr */
    size_t err_len;
    char out3[16384];               /* descriptor 3 */
    size_t out3_len;
};

static void shim_drain(int fd, char *buf, size_t cap, size_t *len)
{
    *len = 0;
    for (;;) {
        char tmp[4096];
        ssize_t n = read(fd, tmp, sizeof tmp);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        size_t room = cap - 1 - *len;
        size_t take = (size_t)n < room ? (size_t)n : room;
        memcpy(buf + *len, tmp, take);
        *len += take;
    }
    buf[*len] = '\0';
    close(fd);
}

/* Runs phase `phase` (with `arg`, may be NULL) in a child that re-executes this program with
 * `var`=`value` (value NULL: unset) and `expected_exit`; captures the child's stderr and
 * descriptor 3 into `cap` when it is not NULL (then the child's stderr is not seen by run.sh).
 * Prints nothing itself apart from the child's transcript. Returns the child's pid (the
 * re-executed program keeps it: its trace records carry it). */
static pid_t shim_run_phase(char **argv, const char *var, const char *value, const char *phase,
                            const char *arg, struct shim_capture *cap) T_UNUSED;
static pid_t shim_run_phase(char **argv, const char *var, const char *value, const char *phase,
                            const char *arg, struct shim_capture *cap)
{
    int errp[2] = { -1, -1 }, outp[2] = { -1, -1 };
    if (cap) {
        t_pipe_cloexec(errp);
        t_pipe_cloexec(outp);
    }
    t_child c = t_spawn();
    if (c.pid == 0) {
        if (cap) {
            /* dup2 gives descriptors without close-on-exec: they survive the exec. */
            T_REQUIRE(dup2(errp[1], 2) == 2);
            T_REQUIRE(dup2(outp[1], 3) == 3);
            fcntl(2, F_SETFD, 0);   /* dup2 onto itself would have kept close-on-exec */
            fcntl(3, F_SETFD, 0);
        }
        if (value)
            T_REQUIRE(setenv(var, value, 1) == 0);
        else
            unsetenv(var);
        char *args[] = { argv[0], (char *)"--phase", (char *)phase, (char *)arg, NULL };
        fflush(NULL);
        execv("/proc/self/exe", args);
        printf("HARNESS: re-exec failed (%s)\n", t_errno_name(errno));
        exit(97);
    }
    if (cap) {
        close(errp[1]);
        close(outp[1]);
    }
    /* The captured output is small (well under a pipe's capacity): read it after the child. */
    pid_t pid = c.pid;
    t_join(&c, 0);
    if (cap) {
        shim_drain(errp[0], cap->err, sizeof cap->err, &cap->err_len);
        shim_drain(outp[0], cap->out3, sizeof cap->out3, &cap->out3_len);
    }
    return pid;
}

/* Number of lines of `text` that contain `needle`. */
static int shim_count_lines(const char *text, const char *needle) T_UNUSED;
static int shim_count_lines(const char *text, const char *needle)
{
    int n = 0;
    for (const char *line = text; *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        char buf[4096];
        size_t take = len < sizeof buf - 1 ? len : sizeof buf - 1;
        memcpy(buf, line, take);
        buf[take] = '\0';
        if (strstr(buf, needle))
            n++;
        if (!end)
            break;
        line = end + 1;
    }
    return n;
}

/* mqshim's scheduled-message calls (include/mqshim.h), counted like the mq_* / msg* calls so
 * that run.sh finds a trace record of each: shim_mq_send_at(...) is mqshim_mq_send_at(...), and
 * so on. The functions are looked up with dlsym, once each (a preloaded test is not linked with
 * -lmqshim); without the library the test stops (T_REQUIRE). */
static void *shim_symbol(const char *name) T_UNUSED;
static void *shim_symbol(const char *name)
{
    void *p = dlsym(RTLD_DEFAULT, name);
    T_REQUIRE(p != NULL);
    return p;
}
#define SHIM_COUNTED_CALL(fn, counter, ...) ({                                              \
        static __typeof__(fn) *shim_fn_;                                                    \
        if (!shim_fn_)                                                                      \
            shim_fn_ = (__typeof__(fn) *)shim_symbol(#fn);                                  \
        t_count(counter);                                                                   \
        shim_fn_(__VA_ARGS__);                                                              \
    })
#define shim_mq_send_at(...)  SHIM_COUNTED_CALL(mqshim_mq_send_at, T_MQSHIM_MQ_SEND_AT, __VA_ARGS__)
#define shim_mq_cancel(...)   SHIM_COUNTED_CALL(mqshim_mq_cancel, T_MQSHIM_MQ_CANCEL, __VA_ARGS__)
#define shim_msgsnd_at(...)   SHIM_COUNTED_CALL(mqshim_msgsnd_at, T_MQSHIM_MSGSND_AT, __VA_ARGS__)
#define shim_msg_cancel(...)  SHIM_COUNTED_CALL(mqshim_msg_cancel, T_MQSHIM_MSG_CANCEL, __VA_ARGS__)

#endif /* MQT_SHIM_H */
