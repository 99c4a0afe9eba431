/* mqt: shim-only */
/* MQSHIM_FAULTS with a probability is reproducible: "mq_send:EAGAIN@30%;seed=42" fails the
 * same mq_send calls in two runs of the same program (the same sequence over 300 calls), a
 * different seed (43) gives a different sequence, and the failure rate is plausible (between
 * 15% and 45% of 300 calls, where 30% is expected: far outside is a broken generator). The
 * sequence does not depend on the backend (the transcript shows its first 60 calls, and the
 * two shim configurations must print the same). 0% never fails and 100% always does. Calls of
 * other functions do not draw (an mq_getattr before each send changes nothing). Shim-only: the
 * plain kernel has no fault injection; the test checks its own expectations. */
#include "harness.h"
#include "mqt_shim.h"

#define CALLS 300
#define SHOWN 60

static const char *qname;

/* Phase: CALLS sends, each received right away (the queue never fills); the outcome of each
 * ('x' injected EAGAIN, '.' success) goes to descriptor 3. */
static void phase_draw(int extra_calls)
{
    mqd_t q = mq_open(qname, O_RDWR | O_NONBLOCK);
    T_REQUIRE(q != (mqd_t)-1);
    char pattern[CALLS + 1];
    int other = 0;
    for (int i = 0; i < CALLS; i++) {
        if (extra_calls) {
            struct mq_attr a;
            if (mq_getattr(q, &a) != 0)
                other++;
        }
        errno = 0;
        if (mq_send(q, "s", 1, 0) == 0) {
            pattern[i] = '.';
            char buf[64];
            if (mq_receive(q, buf, sizeof buf, NULL) != 1)
                other++;
        } else {
            pattern[i] = errno == EAGAIN ? 'x' : '?';
        }
    }
    pattern[CALLS] = '\0';
    t_check("every send either succeeded or was an injected EAGAIN, every receive succeeded",
            other == 0 && !strchr(pattern, '?'));
    T_REQUIRE(write(3, pattern, CALLS) == CALLS);
    mq_close(q);
}

static void run(char **argv, const char *spec, const char *phase, char *pattern)
{
    static struct shim_capture cap;
    t_say("-- MQSHIM_FAULTS=%s%s", spec,
          strcmp(phase, "draw") ? " (an mq_getattr before each send)" : "");
    shim_run_phase(argv, "MQSHIM_FAULTS", spec, phase, NULL, &cap);
    size_t n = cap.out3_len < CALLS ? cap.out3_len : CALLS;
    memcpy(pattern, cap.out3, n);
    pattern[n] = '\0';
    int failed = 0;
    for (const char *p = pattern; *p; p++)
        failed += *p == 'x';
    t_say("first %d calls: %.*s", SHOWN, SHOWN, pattern);
    t_say("%d of %zu calls failed", failed, strlen(pattern));
}

static int count(const char *pattern)
{
    int n = 0;
    for (const char *p = pattern; *p; p++)
        n += *p == 'x';
    return n;
}

/* 30% of CALLS is 90; 45 and 135 are more than 5 standard deviations (7.9) away. */
static int plausible(int failed)
{
    return failed >= CALLS * 15 / 100 && failed <= CALLS * 45 / 100;
}

int main(int argc, char **argv)
{
    qname = t_qname("prob");
    const char *phase = shim_phase(argc, argv, NULL);
    if (phase) {
        phase_draw(strcmp(phase, "draw") != 0);
        shim_phase_end();
    }
    T_REQUIRE(shim_loaded());
    mqd_t q = t_mq_create("prob", 10, 16, 0);

    static char a[CALLS + 1], b[CALLS + 1], c[CALLS + 1], d[CALLS + 1];
    static char none[CALLS + 1], all[CALLS + 1];
    run(argv, "mq_send:EAGAIN@30%;seed=42", "draw", a);
    run(argv, "mq_send:EAGAIN@30%;seed=42", "draw", b);
    run(argv, "mq_send:EAGAIN@30%;seed=43", "draw", c);
    run(argv, "mq_send:EAGAIN@30%;seed=42", "draw-getattr", d);
    t_check("each run made every call",
            strlen(a) == CALLS && strlen(b) == CALLS && strlen(c) == CALLS && strlen(d) == CALLS);
    t_check("the same seed gives the same sequence", strcmp(a, b) == 0);
    t_check("other calls between the sends do not change it", strcmp(a, d) == 0);
    t_check("another seed gives another sequence", strcmp(a, c) != 0);
    t_check("seed 42: between 15% and 45% failed", plausible(count(a)));
    t_check("seed 43: between 15% and 45% failed", plausible(count(c)));
    run(argv, "mq_send:EAGAIN@0%;seed=42", "draw", none);
    t_check("0%: no call failed", strlen(none) == CALLS && count(none) == 0);
    run(argv, "mq_send:EAGAIN@100%;seed=42", "draw", all);
    t_check("100%: every call failed", strlen(all) == CALLS && count(all) == CALLS);

    struct mq_attr attr;
    EXPECT_EQ(mq_getattr(q, &attr), 0);
    t_check("the queue is empty", attr.mq_curmsgs == 0);
    EXPECT_EQ(mq_close(q), 0);
    EXPECT_EQ(mq_unlink(qname), 0);
    return t_finish();
}
