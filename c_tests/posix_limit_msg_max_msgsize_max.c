/* msg_max and msgsize_max set to 4 and 256 (the kernel in a fresh IPC namespace with those
 * sysctls; mqshim with MQSHIM_LIMITS=msg_max=4,msgsize_max=256): creating a queue with
 * mq_maxmsg 3 or 4 and mq_msgsize 255 or 256 succeeds, 5 or 257 is EINVAL, for a caller
 * without CAP_SYS_RESOURCE. The limits are checked only when mq_open creates: an existing
 * queue opens with an over-limit attr (O_CREAT without O_EXCL), O_EXCL on it is EEXIST, not
 * EINVAL. A created queue holds exactly its mq_maxmsg messages (then EAGAIN). A NULL attr gives
 * min(msg_default, msg_max) x min(msgsize_default, msgsize_max): the defaults (10 x 8192) are
 * above the limits here, so the queue gets 4 x 256 — a limit below the default caps it. */
#include "harness.h"
#include "mqt_limits.h"

static int ncase;

/* Create a fresh queue with the attr, report, and remove it if it was created. */
static void create(long maxmsg, long msgsize, int want_errno)
{
    char tag[16];
    snprintf(tag, sizeof tag, "mx%d", ncase++);
    const char *name = t_qname(tag);
    struct mq_attr attr = { .mq_maxmsg = maxmsg, .mq_msgsize = msgsize };
    errno = 0;
    mqd_t q = mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0600, &attr);
    int e = errno;
    printf("create %ld x %ld -> %s", maxmsg, msgsize, q == (mqd_t)-1 ? t_errno_name(e) : "ok");
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

static struct mq_attr show(const char *label, mqd_t q)
{
    struct mq_attr a;
    memset(&a, 0, sizeof a);
    EXPECT_EQ(mq_getattr(q, &a), 0);
    t_say("%s: maxmsg %ld msgsize %ld curmsgs %ld", label, a.mq_maxmsg, a.mq_msgsize, a.mq_curmsgs);
    return a;
}

static void body(void)
{
    t_say("-- creating at, below and above the limits");
    create(3, 16, 0);
    create(4, 16, 0);
    create(5, 16, EINVAL);
    create(1, 255, 0);
    create(1, 256, 0);
    create(1, 257, EINVAL);
    create(4, 256, 0);
    create(5, 257, EINVAL);
    create(100000, 16, EINVAL);

    t_say("-- a queue at the limits holds 4 messages of 256 bytes");
    const char *name = t_qname("full");
    struct mq_attr attr = { .mq_maxmsg = 4, .mq_msgsize = 256 };
    mqd_t q = EXPECT_OK(mq_open(name, O_RDWR | O_CREAT | O_EXCL | O_NONBLOCK, 0600, &attr));
    T_REQUIRE(q != (mqd_t)-1);
    char msg[256];
    memset(msg, 'm', sizeof msg);
    for (int i = 0; i < 4; i++)
        EXPECT_EQ(mq_send(q, msg, 256, 0), 0);
    EXPECT_ERR(mq_send(q, msg, 1, 0), EAGAIN);
    show("full", q);

    t_say("-- the limits are not checked when the queue exists");
    struct mq_attr over = { .mq_maxmsg = 5, .mq_msgsize = 257 };
    mqd_t q2 = EXPECT_OK(mq_open(name, O_RDWR | O_CREAT, 0600, &over));
    if (q2 != (mqd_t)-1) {
        show("opened with 5 x 257", q2);
        EXPECT_EQ(mq_close(q2), 0);
    }
    EXPECT_ERR(mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0600, &over), EEXIST);
    EXPECT_EQ(mq_close(q), 0);
    EXPECT_EQ(mq_unlink(name), 0);

    t_say("-- NULL attr: the defaults, capped by the limits");
    const char *dname = t_qname("null");
    q = EXPECT_OK(mq_open(dname, O_RDWR | O_CREAT | O_EXCL, 0600, NULL));
    if (q != (mqd_t)-1) {
        struct mq_attr a = show("NULL attr", q);
        t_check("NULL attr gives 4 x 256", a.mq_maxmsg == 4 && a.mq_msgsize == 256);
        EXPECT_EQ(mq_close(q), 0);
        EXPECT_EQ(mq_unlink(dname), 0);
    }
}

int main(int argc, char **argv)
{
    static const struct lim_phase phases[] = {
        { "msg_max=4,msgsize_max=256", body, LIM_UNPRIVILEGED },
    };
    return lim_main(argc, argv, phases, 1);
}
