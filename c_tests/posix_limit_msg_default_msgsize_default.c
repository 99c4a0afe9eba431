/* msg_default and msgsize_default: a queue created with a NULL attr gets
 * min(msg_default, msg_max) x min(msgsize_default, msgsize_max) — first with the defaults
 * (3 x 200) below the limits (10 x 8192), then with them above the limits (6 x 300 against
 * 4 x 256: the queue gets 4 x 256, it is not refused; the kernel accepts a default above the
 * maximum in the sysctls). The queue holds exactly that many messages of that size (then
 * EAGAIN, and EMSGSIZE one byte over). An explicit attr is not bound by the defaults (only by
 * the limits), and opening an existing queue with a NULL attr changes nothing. Kernel: a fresh
 * IPC namespace with those sysctls; mqshim: MQSHIM_LIMITS with the same values. */
#include "harness.h"
#include "mqt_limits.h"

static struct mq_attr show(const char *label, mqd_t q)
{
    struct mq_attr a;
    memset(&a, 0, sizeof a);
    EXPECT_EQ(mq_getattr(q, &a), 0);
    t_say("%s: maxmsg %ld msgsize %ld curmsgs %ld", label, a.mq_maxmsg, a.mq_msgsize, a.mq_curmsgs);
    return a;
}

/* NULL-attr queue: its attributes, and that it holds maxmsg messages of msgsize bytes. */
static void null_attr_queue(const char *tag, long want_maxmsg, long want_msgsize)
{
    const char *name = t_qname(tag);
    mqd_t q = EXPECT_OK(mq_open(name, O_RDWR | O_CREAT | O_EXCL | O_NONBLOCK, 0600, NULL));
    if (q == (mqd_t)-1)
        return;
    struct mq_attr a = show("NULL attr", q);
    char label[64];
    snprintf(label, sizeof label, "NULL attr gives %ld x %ld", want_maxmsg, want_msgsize);
    t_check(label, a.mq_maxmsg == want_maxmsg && a.mq_msgsize == want_msgsize);
    static char msg[8192];
    memset(msg, 'd', sizeof msg);
    EXPECT_ERR(mq_send(q, msg, (size_t)want_msgsize + 1, 0), EMSGSIZE);
    int sent = 0;
    for (long i = 0; i < want_maxmsg; i++)
        if (mq_send(q, msg, (size_t)want_msgsize, 0) == 0)
            sent++;
    t_say("sent %d messages of %ld bytes", sent, want_msgsize);
    EXPECT_ERR(mq_send(q, msg, 1, 0), EAGAIN);

    t_say("-- opening it again with a NULL attr changes nothing");
    mqd_t q2 = EXPECT_OK(mq_open(name, O_RDWR | O_CREAT, 0600, NULL));
    if (q2 != (mqd_t)-1) {
        show("reopened", q2);
        EXPECT_EQ(mq_close(q2), 0);
    }
    EXPECT_EQ(mq_close(q), 0);
    EXPECT_EQ(mq_unlink(name), 0);
}

static void below_limits(void)
{
    null_attr_queue("dflt", 3, 200);

    t_say("-- an explicit attr is not bound by the defaults");
    const char *name = t_qname("explicit");
    struct mq_attr attr = { .mq_maxmsg = 10, .mq_msgsize = 8192 };
    mqd_t q = EXPECT_OK(mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0600, &attr));
    if (q != (mqd_t)-1) {
        show("10 x 8192", q);
        EXPECT_EQ(mq_close(q), 0);
        EXPECT_EQ(mq_unlink(name), 0);
    }
}

static void above_limits(void)
{
    null_attr_queue("capped", 4, 256);
}

int main(int argc, char **argv)
{
    static const struct lim_phase phases[] = {
        { "msg_default=3,msgsize_default=200", below_limits, LIM_UNPRIVILEGED },
        { "msg_max=4,msgsize_max=256,msg_default=6,msgsize_default=300", above_limits,
          LIM_UNPRIVILEGED },
    };
    return lim_main(argc, argv, phases, 2);
}
