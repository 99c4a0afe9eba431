/* mqt: shim-only */
/* A malformed MQSHIM_FAULTS is reported on stderr, naming the variable and the bad part, once
 * per bad rule (not per call, not again in a forked child), and the program runs normally:
 * "mq_send:EIDRM" (an errno mq_send cannot return) and "garbage" inject nothing — every send
 * succeeds; in "mq_send:EAGAIN@2;bogus:EAGAIN;msgsnd:EMSGSIZE@1" the two bad rules are each
 * reported and ignored while the valid rule still applies (the 2nd mq_send fails with EAGAIN).
 * The phase child's stderr is captured through a pipe; the transcript shows only whether it
 * names MQSHIM_FAULTS and the bad parts, and how many lines do. Shim-only: the plain kernel has
 * no MQSHIM_FAULTS; the test checks its own expectations. */
#include "harness.h"
#include "mqt_shim.h"

static const char *qname;

/* Phase: five sends (want_fail: which one must fail with EAGAIN, 0 none), each received; then
 * a forked child makes more calls (the report is not repeated). */
static void phase(int want_fail)
{
    mqd_t q = mq_open(qname, O_RDWR | O_NONBLOCK);
    T_REQUIRE(q != (mqd_t)-1);
    char buf[64];
    for (int i = 1; i <= 5; i++) {
        if (i == want_fail) {
            EXPECT_ERR(mq_send(q, "m", 1, 0), EAGAIN);
        } else {
            EXPECT_EQ(mq_send(q, "m", 1, 0), 0);
            EXPECT_EQ(mq_receive(q, buf, sizeof buf, NULL), 1);
        }
    }
    t_child c = t_spawn();
    if (c.pid == 0) {
        struct mq_attr a;
        EXPECT_EQ(mq_getattr(q, &a), 0);
        EXPECT_EQ(mq_close(q), 0);
        exit(t_child_status());
    }
    t_join(&c, 0);
    EXPECT_EQ(mq_close(q), 0);
}

static void run(char **argv, const char *spec, const char *phase_name, const char *const *bad,
                int nbad)
{
    static struct shim_capture cap;
    t_say("-- MQSHIM_FAULTS=%s", spec);
    shim_run_phase(argv, "MQSHIM_FAULTS", spec, phase_name, NULL, &cap);
    t_check("stderr names MQSHIM_FAULTS", strstr(cap.err, "MQSHIM_FAULTS") != NULL);
    for (int i = 0; i < nbad; i++) {
        char label[128];
        snprintf(label, sizeof label, "stderr names the bad part '%s'", bad[i]);
        t_check(label, strstr(cap.err, bad[i]) != NULL);
    }
    int lines = shim_count_lines(cap.err, "MQSHIM_FAULTS");
    t_say("lines naming MQSHIM_FAULTS: %d", lines);
    t_check("one per bad rule", lines == nbad);
    t_check("nothing else on stderr", shim_count_lines(cap.err, "") == lines);
}

int main(int argc, char **argv)
{
    qname = t_qname("malformed");
    const char *ph = shim_phase(argc, argv, NULL);
    if (ph) {
        phase(strcmp(ph, "valid-part") == 0 ? 2 : 0);
        shim_phase_end();
    }
    T_REQUIRE(shim_loaded());
    mqd_t q = t_mq_create("malformed", 10, 16, 0);

    static const char *const eidrm[] = { "EIDRM" };
    run(argv, "mq_send:EIDRM", "nothing", eidrm, 1);
    static const char *const garbage[] = { "garbage" };
    run(argv, "garbage", "nothing", garbage, 1);
    static const char *const mixed[] = { "bogus", "EMSGSIZE" };
    run(argv, "mq_send:EAGAIN@2;bogus:EAGAIN;msgsnd:EMSGSIZE@1", "valid-part", mixed, 2);

    struct mq_attr a;
    EXPECT_EQ(mq_getattr(q, &a), 0);
    t_check("the queue is empty", a.mq_curmsgs == 0);
    EXPECT_EQ(mq_close(q), 0);
    EXPECT_EQ(mq_unlink(qname), 0);
    return t_finish();
}
