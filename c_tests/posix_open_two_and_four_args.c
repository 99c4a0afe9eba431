/* mqt: fortify
 *
 * mq_open's two forms: the four-argument form creates (with an attr, or NULL for the
 * defaults 10 x 8192); the two-argument form opens an existing queue and sees the creator's
 * attributes. The oflag of one two-argument call is not a compile-time constant, so the
 * _FORTIFY_SOURCE build of this file calls __mq_open_2 (run.sh checks the symbol). */
#include "harness.h"

static volatile int runtime_rdonly = O_RDONLY;

static void show_attr(const char *label, mqd_t q)
{
    struct mq_attr a;
    if (mq_getattr(q, &a) == 0)
        t_say("%s: maxmsg %ld msgsize %ld curmsgs %ld", label, a.mq_maxmsg, a.mq_msgsize,
              a.mq_curmsgs);
    else
        t_say("%s: mq_getattr failed %s", label, t_errno_name(errno));
}

int main(void)
{
    const char *name = t_qname("twofour");
    struct mq_attr attr = { .mq_maxmsg = 3, .mq_msgsize = 16 };

    mqd_t writer = EXPECT_OK(mq_open(name, O_WRONLY | O_CREAT | O_EXCL, 0600, &attr));

    int oflag = runtime_rdonly;          /* not constant: __mq_open_2 under fortify */
    mqd_t reader = EXPECT_OK(mq_open(name, oflag));
    show_attr("two-argument open sees", reader);

    mqd_t both = EXPECT_OK(mq_open(name, O_RDWR));
    show_attr("constant-flag two-argument open sees", both);

    EXPECT_EQ(mq_send(writer, "via four", 8, 1), 0);
    char buf[16];
    unsigned prio;
    long n = EXPECT_EQ(mq_receive(reader, buf, sizeof buf, &prio), 8);
    t_show_msg("received", buf, n, prio);

    const char *defaults = t_qname("defaults");
    mqd_t d = EXPECT_OK(mq_open(defaults, O_RDWR | O_CREAT | O_EXCL, 0600, NULL));
    show_attr("four-argument open with NULL attr gets", d);

    EXPECT_EQ(mq_close(d), 0);
    EXPECT_EQ(mq_close(both), 0);
    EXPECT_EQ(mq_close(reader), 0);
    EXPECT_EQ(mq_close(writer), 0);
    EXPECT_EQ(mq_unlink(defaults), 0);
    EXPECT_EQ(mq_unlink(name), 0);
    return t_finish();
}
