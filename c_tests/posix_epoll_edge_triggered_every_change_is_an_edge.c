/* mqt: static */
/* For edge-triggered epoll an "edge" on a queue is a wake-up, not a transition: the kernel
 * wakes a queue's pollers on every message stored (not only empty -> non-empty) and on every
 * receive when no sender is blocked (not only full -> not full), and epoll then reports
 * whatever of the asked-for conditions holds. So with EPOLLIN|EPOLLET, a send into the
 * non-empty queue (also by another process) and a receive that leaves a message each give a
 * new EPOLLIN event; with EPOLLOUT|EPOLLET, a send that leaves room and a receive from a
 * queue that was not full each give a new EPOLLOUT event. Calls that change nothing (a failed
 * send or receive, mq_getattr) give none, and neither does a send handed straight to a
 * blocked receiver (the message is never stored). EPOLL_CTL_MOD re-checks the condition. */
#include "harness.h"
#include <sys/epoll.h>

static int ep;

/* epoll_wait(0) after `what`: want is the event expected (0: none). */
static void step(const char *what, uint32_t want)
{
    struct epoll_event ev[2];
    int n = epoll_wait(ep, ev, 2, 0);
    uint32_t got = n > 0 ? ev[0].events : 0;
    const char *e = n <= 0 ? "" : got == EPOLLIN ? " EPOLLIN" : got == EPOLLOUT ? " EPOLLOUT"
                                                                              : " other";
    printf("  %-44s epoll_wait(0) -> %d%s", what, n, e);
    if (n != (want ? 1 : 0) || got != want) {
        t_failures++;
        printf("  !! MISMATCH: expected %s", want == EPOLLIN ? "1 EPOLLIN"
                                             : want == EPOLLOUT ? "1 EPOLLOUT" : "0");
    }
    printf("\n");
}

int main(void)
{
    const char *name = t_qname("epolledge");
    mqd_t q = t_mq_create("epolledge", 3, 8, O_NONBLOCK);
    mqd_t blocking = EXPECT_OK(mq_open(name, O_RDWR));
    ep = epoll_create1(EPOLL_CLOEXEC);
    T_REQUIRE(ep >= 0);
    char buf[8];
    struct mq_attr attr;

    t_say("-- EPOLLIN|EPOLLET");
    struct epoll_event ev = { .events = EPOLLIN | EPOLLET };
    T_REQUIRE(epoll_ctl(ep, EPOLL_CTL_ADD, q, &ev) == 0);
    step("added on the empty queue", 0);
    EXPECT_EQ(mq_send(q, "a", 1, 0), 0);
    step("send into the empty queue", EPOLLIN);
    step("nothing happened", 0);
    EXPECT_EQ(mq_send(q, "b", 1, 0), 0);
    step("send into the non-empty queue", EPOLLIN);
    t_child c = t_spawn();
    if (c.pid == 0) {
        EXPECT_EQ(mq_send(q, "c", 1, 0), 0);
        exit(t_child_status());
    }
    t_join(&c, 0);
    step("another process's send (non-empty queue)", EPOLLIN);
    EXPECT_ERR(mq_send(q, "d", 1, 0), EAGAIN);
    step("failed send (queue full)", 0);
    EXPECT_EQ(mq_getattr(q, &attr), 0);
    step("mq_getattr", 0);
    EXPECT_EQ(mq_receive(q, buf, sizeof buf, NULL), 1);
    step("receive, two messages left", EPOLLIN);
    EXPECT_EQ(mq_receive(q, buf, sizeof buf, NULL), 1);
    EXPECT_EQ(mq_receive(q, buf, sizeof buf, NULL), 1);
    step("two receives, the queue is empty", 0);
    EXPECT_ERR(mq_receive(q, buf, sizeof buf, NULL), EAGAIN);
    step("failed receive (queue empty)", 0);

    t_say("-- EPOLLOUT|EPOLLET");
    ev.events = EPOLLOUT | EPOLLET;
    T_REQUIRE(epoll_ctl(ep, EPOLL_CTL_MOD, q, &ev) == 0);
    step("EPOLL_CTL_MOD on the empty queue", EPOLLOUT);
    step("nothing happened", 0);
    EXPECT_EQ(mq_send(q, "a", 1, 0), 0);
    step("send, room left", EPOLLOUT);
    EXPECT_EQ(mq_send(q, "b", 1, 0), 0);
    EXPECT_EQ(mq_send(q, "c", 1, 0), 0);
    step("two sends, the queue is full", 0);
    EXPECT_ERR(mq_send(q, "d", 1, 0), EAGAIN);
    step("failed send (queue full)", 0);
    EXPECT_EQ(mq_receive(q, buf, sizeof buf, NULL), 1);
    step("receive from the full queue", EPOLLOUT);
    EXPECT_EQ(mq_receive(q, buf, sizeof buf, NULL), 1);
    step("receive from the queue that was not full", EPOLLOUT);
    EXPECT_EQ(mq_receive(q, buf, sizeof buf, NULL), 1);
    step("receive of the last message", EPOLLOUT);

    t_say("-- a send handed to a blocked receiver is no wake-up");
    t_chan ready = t_chan_open();
    c = t_spawn();
    if (c.pid == 0) {
        mq_getattr(blocking, &attr);            /* warm up before announcing the wait */
        t_chan_post(&ready);
        EXPECT_EQ(mq_receive(blocking, buf, sizeof buf, NULL), 1);
        exit(t_child_status());
    }
    t_chan_wait(&ready);
    t_wait_blocked(c.pid);
    step("a receiver is blocked", 0);
    EXPECT_EQ(mq_send(q, "h", 1, 0), 0);
    step("send handed to the blocked receiver", 0);
    t_join(&c, 0);
    EXPECT_EQ(mq_getattr(q, &attr), 0);
    t_check("curmsgs is 0: the message was never stored", attr.mq_curmsgs == 0);
    EXPECT_EQ(mq_send(q, "s", 1, 0), 0);
    step("send stored in the queue", EPOLLOUT);
    EXPECT_EQ(mq_receive(q, buf, sizeof buf, NULL), 1);

    close(ep);
    EXPECT_EQ(mq_close(blocking), 0);
    EXPECT_EQ(mq_close(q), 0);
    EXPECT_EQ(mq_unlink(name), 0);
    return t_finish();
}
