/* mqt: shim-only */
/* A malformed MQSHIM_LIMITS is reported once on stderr, naming the variable and the bad part,
 * and ignored while the valid part applies: with "msg_max=4,bogus=1" a queue of 4 messages is
 * created and one of 5 is EINVAL (msg_max 4 is in force, below the default 10), and the report
 * ("bogus") appears on one line, however many calls follow, also from a forked child. With
 * "msg_max=4x,msgsize_max=256" the bad value is ignored — msg_max keeps its default (the
 * machine's /proc value M: M messages fit, M+1 is EINVAL) — while msgsize_max 256 applies
 * (257 is EINVAL). The caller drops CAP_SYS_RESOURCE, so the limits apply to it. The phase
 * child's stderr is captured through a pipe; the transcript shows only whether it names the
 * variable and the bad parts. Shim-only: the plain kernel has no MQSHIM_LIMITS; the test checks
 * its own expectations. */
#include "harness.h"
#include "mqt_shim.h"

static int ncase;

static void create(const char *label, long maxmsg, long msgsize, int want_errno)
{
    char tag[16];
    snprintf(tag, sizeof tag, "ml%d", ncase++);
    const char *name = t_qname(tag);
    struct mq_attr attr = { .mq_maxmsg = maxmsg, .mq_msgsize = msgsize };
    errno = 0;
    mqd_t q = mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0600, &attr);
    int e = errno;
    printf("create %s -> %s", label, q == (mqd_t)-1 ? t_errno_name(e) : "ok");
    if (want_errno ? !(q == (mqd_t)-1 && e == want_errno) : q == (mqd_t)-1) {
        t_failures++;
        printf("  !! MISMATCH: expected %s", want_errno ? t_errno_name(want_errno) : "ok");
    }
    printf("\n");
    if (q != (mqd_t)-1) {
        mq_close(q);
        mq_unlink(name);
    }
}

static long proc_msg_max(void)
{
    FILE *f = fopen("/proc/sys/fs/mqueue/msg_max", "r");
    long v = -1;
    if (f) {
        if (fscanf(f, "%ld", &v) != 1)
            v = -1;
        fclose(f);
    }
    return v;
}

static void phase_unknown_key(void)
{
    shim_drop_cap_sys_resource();
    create("4 x 16", 4, 16, 0);
    create("5 x 16", 5, 16, EINVAL);
    t_child c = t_spawn();
    if (c.pid == 0) {
        create("in a forked child: 5 x 16", 5, 16, EINVAL);
        exit(t_child_status());
    }
    t_join(&c, 0);
    create("4 x 16 again", 4, 16, 0);
}

static void phase_bad_value(void)
{
    shim_drop_cap_sys_resource();
    long m = proc_msg_max();
    T_REQUIRE(m >= 1 && m < 65536);
    create("M x 16", m, 16, 0);
    create("M+1 x 16", m + 1, 16, EINVAL);
    create("1 x 256", 1, 256, 0);
    create("1 x 257", 1, 257, EINVAL);
}

static void run(char **argv, const char *spec, const char *phase, const char *bad)
{
    static struct shim_capture cap;
    t_say("-- MQSHIM_LIMITS=%s", spec);
    shim_run_phase(argv, "MQSHIM_LIMITS", spec, phase, NULL, &cap);
    t_check("stderr names MQSHIM_LIMITS", strstr(cap.err, "MQSHIM_LIMITS") != NULL);
    char label[128];
    snprintf(label, sizeof label, "stderr names the bad part '%s'", bad);
    t_check(label, strstr(cap.err, bad) != NULL);
    int lines = shim_count_lines(cap.err, "MQSHIM_LIMITS");
    t_say("lines naming MQSHIM_LIMITS: %d", lines);
    t_check("reported once", lines == 1);
    t_check("nothing else on stderr", shim_count_lines(cap.err, "") == 1);
}

int main(int argc, char **argv)
{
    const char *phase = shim_phase(argc, argv, NULL);
    if (phase) {
        if (!strcmp(phase, "unknown-key"))
            phase_unknown_key();
        else
            phase_bad_value();
        shim_phase_end();
    }
    T_REQUIRE(shim_loaded());
    run(argv, "msg_max=4,bogus=1", "unknown-key", "bogus");
    run(argv, "msg_max=4x,msgsize_max=256", "bad-value", "4x");
    return t_finish();
}
