/* mqt: shim-only */
/* MQSHIM_FAULTS by call number (each phase re-executes the test with one specification):
 * "mq_send:EAGAIN@3" fails the 3rd mq_send only (calls 1, 2, 4, 5 succeed); calls of other
 * functions (mq_receive, mq_getattr) do not advance the count. "@every 2" fails the 2nd, 4th,
 * 6th; "@3+" the 3rd and every later one; no "@" fails every call. A pattern ("mq_*") counts
 * the calls of the functions it names that can return its errno (EMSGSIZE: mq_send and
 * mq_receive, not mq_getattr). A failed send sent nothing (curmsgs counts only the successful
 * ones). Shim-only: the plain kernel has no fault injection; each phase checks its own
 * expectations (and the two shim configurations must agree). */
#include "harness.h"
#include "mqt_shim.h"

static const char *qname;

static mqd_t open_q(void)
{
    mqd_t q = mq_open(qname, O_RDWR | O_NONBLOCK);
    T_REQUIRE(q != (mqd_t)-1);
    return q;
}

static long curmsgs(mqd_t q)
{
    struct mq_attr a;
    memset(&a, 0, sizeof a);
    EXPECT_EQ(mq_getattr(q, &a), 0);
    t_say("curmsgs %ld", a.mq_curmsgs);
    return a.mq_curmsgs;
}

static void drain(mqd_t q)
{
    char buf[64];
    while (mq_receive(q, buf, sizeof buf, NULL) >= 0) {
    }
}

/* Sends n messages; want[i] is the errno call i+1 must fail with (0: success). */
static void sends(mqd_t q, int n, const int *want)
{
    for (int i = 0; i < n; i++) {
        char label[32];
        snprintf(label, sizeof label, "mq_send #%d", i + 1);
        errno = 0;
        int r = mq_send(q, "m", 1, 0);
        int e = errno;
        printf("%s -> %s", label, r == 0 ? "0" : t_errno_name(e));
        if (want[i] ? !(r == -1 && e == want[i]) : r != 0) {
            t_failures++;
            printf("  !! MISMATCH: expected %s", want[i] ? t_errno_name(want[i]) : "0");
        }
        printf("\n");
    }
}

static void phase_nth(void)
{
    mqd_t q = open_q();
    char buf[64];
    EXPECT_EQ(mq_send(q, "1", 1, 0), 0);
    EXPECT_EQ(mq_receive(q, buf, sizeof buf, NULL), 1);     /* not counted by the rule */
    curmsgs(q);                                             /* nor this */
    EXPECT_EQ(mq_send(q, "2", 1, 0), 0);
    EXPECT_ERR(mq_send(q, "3", 1, 0), EAGAIN);
    EXPECT_EQ(mq_send(q, "4", 1, 0), 0);
    EXPECT_EQ(mq_send(q, "5", 1, 0), 0);
    t_check("curmsgs is 3 (the failed send sent nothing)", curmsgs(q) == 3);
    drain(q);
    mq_close(q);
}

static void phase_every(void)
{
    mqd_t q = open_q();
    static const int want[] = { 0, EAGAIN, 0, EAGAIN, 0, EAGAIN, 0 };
    sends(q, 7, want);
    t_check("curmsgs is 4", curmsgs(q) == 4);
    drain(q);
    mq_close(q);
}

static void phase_from(void)
{
    mqd_t q = open_q();
    static const int want[] = { 0, 0, EINTR, EINTR, EINTR, EINTR };
    sends(q, 6, want);
    t_check("curmsgs is 2", curmsgs(q) == 2);
    drain(q);
    mq_close(q);
}

static void phase_always(void)
{
    mqd_t q = open_q();
    static const int want[] = { ETIMEDOUT, ETIMEDOUT, ETIMEDOUT };
    sends(q, 3, want);
    t_check("curmsgs is 0", curmsgs(q) == 0);
    mq_close(q);
}

static void phase_pattern(void)
{
    mqd_t q = open_q();
    char buf[64];
    curmsgs(q);                                             /* mq_getattr: not matched */
    EXPECT_EQ(mq_send(q, "p", 1, 0), 0);                    /* 1 */
    curmsgs(q);
    EXPECT_ERR(mq_receive(q, buf, sizeof buf, NULL), EMSGSIZE);  /* 2 */
    t_check("the message is still there", curmsgs(q) == 1);
    EXPECT_EQ(mq_receive(q, buf, sizeof buf, NULL), 1);    /* 3 */
    EXPECT_ERR(mq_send(q, "p", 1, 0), EMSGSIZE);            /* 4 */
    t_check("curmsgs is 0", curmsgs(q) == 0);
    mq_close(q);
}

int main(int argc, char **argv)
{
    qname = t_qname("nth");
    const char *phase = shim_phase(argc, argv, NULL);
    if (phase) {
        if (!strcmp(phase, "nth"))
            phase_nth();
        else if (!strcmp(phase, "every"))
            phase_every();
        else if (!strcmp(phase, "from"))
            phase_from();
        else if (!strcmp(phase, "always"))
            phase_always();
        else if (!strcmp(phase, "pattern"))
            phase_pattern();
        shim_phase_end();
    }
    T_REQUIRE(shim_loaded());
    mqd_t q = t_mq_create("nth", 10, 16, O_NONBLOCK);

    static const struct { const char *phase, *spec; } phases[] = {
        { "nth", "mq_send:EAGAIN@3" },
        { "every", "mq_send:EAGAIN@every 2" },
        { "from", "mq_send:EINTR@3+" },
        { "always", "mq_send:ETIMEDOUT" },
        { "pattern", "mq_*:EMSGSIZE@every 2" },
    };
    for (size_t i = 0; i < sizeof phases / sizeof phases[0]; i++) {
        t_say("-- MQSHIM_FAULTS=%s", phases[i].spec);
        shim_run_phase(argv, "MQSHIM_FAULTS", phases[i].spec, phases[i].phase, NULL, NULL);
    }

    t_say("-- without MQSHIM_FAULTS nothing is injected");
    for (int i = 0; i < 4; i++)
        EXPECT_EQ(mq_send(q, "x", 1, 0), 0);
    struct mq_attr a;
    EXPECT_EQ(mq_getattr(q, &a), 0);
    t_check("curmsgs is 4", a.mq_curmsgs == 4);
    EXPECT_EQ(mq_close(q), 0);
    EXPECT_EQ(mq_unlink(qname), 0);
    return t_finish();
}
