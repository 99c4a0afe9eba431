/* mqt: static */
/* Receive order: highest priority first, FIFO among equal priorities — including the
 * extremes 0 and 32767, and messages that arrive while others are queued. */
#include "harness.h"

static void send_one(mqd_t q, const char *text, unsigned prio)
{
    int r = mq_send(q, text, strlen(text), prio);
    t_say("send %s prio %u -> %s", text, prio, r == 0 ? "0" : t_errno_name(errno));
}

static void expect_next(mqd_t q, const char *want)
{
    char buf[16];
    unsigned prio;
    long n = mq_receive(q, buf, sizeof buf, &prio);
    t_show_msg("got", buf, n < 0 ? 0 : n, prio);
    t_check("  is the expected next", n == (long)strlen(want) && memcmp(buf, want, (size_t)n) == 0);
}

int main(void)
{
    const char *name = t_qname("order");
    mqd_t q = t_mq_create("order", 10, 16, 0);

    send_one(q, "p1-a", 1);
    send_one(q, "p5-a", 5);
    send_one(q, "p0-a", 0);
    send_one(q, "p5-b", 5);
    send_one(q, "pmax-a", 32767);
    send_one(q, "p1-b", 1);
    send_one(q, "p0-b", 0);
    send_one(q, "p5-c", 5);
    send_one(q, "pmax-b", 32767);

    expect_next(q, "pmax-a");
    expect_next(q, "pmax-b");
    expect_next(q, "p5-a");
    expect_next(q, "p5-b");

    send_one(q, "p5-d", 5);
    send_one(q, "p3-a", 3);

    expect_next(q, "p5-c");
    expect_next(q, "p5-d");
    expect_next(q, "p3-a");
    expect_next(q, "p1-a");
    expect_next(q, "p1-b");
    expect_next(q, "p0-a");
    expect_next(q, "p0-b");

    struct mq_attr attr;
    EXPECT_EQ(mq_getattr(q, &attr), 0);
    t_say("curmsgs at the end: %ld", attr.mq_curmsgs);
    EXPECT_EQ(mq_close(q), 0);
    EXPECT_EQ(mq_unlink(name), 0);
    return t_finish();
}
