/* mqt: static */
/* Polling a queue descriptor changes nothing else about it: afterwards mq_getattr reports the
 * same flags, O_NONBLOCK still makes an empty receive fail with EAGAIN and mq_setattr still
 * changes it for every duplicate of the description, close-on-exec is kept, a duplicate made
 * before the poll is polled alike and works as a queue descriptor, and a descriptor of a second
 * open of the same queue keeps its own flags. */
#include "harness.h"
#include <poll.h>

static void show_poll(const char *label, mqd_t fd)
{
    struct pollfd p = { .fd = fd, .events = POLLIN | POLLOUT };
    int n = poll(&p, 1, 0);
    printf("  %-10s poll -> %d, revents %s\n", label, n,
           p.revents == POLLOUT ? "POLLOUT" : p.revents == (POLLIN | POLLOUT) ? "POLLIN|POLLOUT"
                                                                              : "other");
}

int main(void)
{
    const char *name = t_qname("pollflags");
    mqd_t q = t_mq_create("pollflags", 2, 8, O_NONBLOCK);
    mqd_t blocking = EXPECT_OK(mq_open(name, O_RDWR));
    int dup_q = dup(q);
    T_REQUIRE(dup_q >= 0);
    struct mq_attr a;
    char buf[8];

    int cloexec_before = fcntl(q, F_GETFD) & FD_CLOEXEC;
    show_poll("q", q);
    show_poll("blocking", blocking);
    t_check("close-on-exec kept", (fcntl(q, F_GETFD) & FD_CLOEXEC) == cloexec_before);
    EXPECT_EQ(mq_getattr(q, &a), 0);
    t_check("q: O_NONBLOCK", a.mq_flags == O_NONBLOCK);
    EXPECT_EQ(mq_getattr(blocking, &a), 0);
    t_check("blocking: no O_NONBLOCK", a.mq_flags == 0);
    EXPECT_ERR(mq_receive(q, buf, sizeof buf, NULL), EAGAIN);

    t_say("-- the duplicate made before the poll");
    show_poll("dup", dup_q);
    EXPECT_EQ(mq_send(dup_q, "a", 1, 0), 0);
    show_poll("q", q);
    EXPECT_EQ(mq_receive(dup_q, buf, sizeof buf, NULL), 1);
    show_poll("dup", dup_q);

    t_say("-- mq_setattr on one reaches the other (one description)");
    struct mq_attr off = { .mq_flags = 0 };
    EXPECT_EQ(mq_setattr(dup_q, &off, NULL), 0);
    EXPECT_EQ(mq_getattr(q, &a), 0);
    t_check("q: O_NONBLOCK cleared through the duplicate", a.mq_flags == 0);
    EXPECT_EQ(mq_getattr(blocking, &a), 0);
    t_check("blocking: still no O_NONBLOCK", a.mq_flags == 0);
    struct mq_attr on = { .mq_flags = O_NONBLOCK };
    EXPECT_EQ(mq_setattr(q, &on, NULL), 0);
    EXPECT_ERR(mq_receive(dup_q, buf, sizeof buf, NULL), EAGAIN);

    t_say("-- a forked child uses the polled descriptor");
    t_child c = t_spawn();
    if (c.pid == 0) {
        EXPECT_EQ(mq_send(q, "c", 1, 0), 0);
        exit(t_child_status());
    }
    t_join(&c, 0);
    show_poll("q", q);
    EXPECT_EQ(mq_receive(blocking, buf, sizeof buf, NULL), 1);
    show_poll("blocking", blocking);

    EXPECT_EQ(close(dup_q), 0);
    EXPECT_EQ(mq_close(blocking), 0);
    EXPECT_EQ(mq_close(q), 0);
    EXPECT_EQ(mq_unlink(name), 0);
    return t_finish();
}
