/* mqt: static */
/* Edge-triggered epoll on queue descriptors with another process making the changes. EPOLLIN:
 * the parent blocks in epoll_wait(EPOLLIN|EPOLLET), a child sends one message; the parent
 * wakes with one EPOLLIN event, drains the queue until EAGAIN, and epoll_wait then reports
 * nothing more; when the child sends several messages before the parent waits, they come as
 * one event and are all drained. EPOLLOUT: on a full queue epoll_wait(EPOLLOUT|EPOLLET)
 * reports nothing; the parent blocks in it, a child receives one message, the parent wakes
 * with one EPOLLOUT event, refills the queue until EAGAIN, and nothing more is reported. */
#include "harness.h"
#include <sys/epoll.h>

#define MAXMSG 3

static int wait_events(int ep, int timeout_ms, uint32_t *events)
{
    struct epoll_event ev[4];
    int n;
    do
        n = epoll_wait(ep, ev, 4, timeout_ms);
    while (n < 0 && errno == EINTR);
    *events = n > 0 ? ev[0].events : 0;
    return n;
}

static const char *ev_name(uint32_t e)
{
    return e == EPOLLIN ? "EPOLLIN" : e == EPOLLOUT ? "EPOLLOUT" : e == 0 ? "0" : "other";
}

static void mismatch_unless(int ok, const char *expected)
{
    if (!ok) {
        t_failures++;
        printf("  !! MISMATCH: expected %s", expected);
    }
    printf("\n");
}

static int last_errno;                          /* how the last drain/refill ended */

static int drain(mqd_t rd)
{
    char buf[8];
    int n = 0;
    while (mq_receive(rd, buf, sizeof buf, NULL) >= 0)
        n++;
    last_errno = errno;
    printf("  drained %d message(s), then %s", n, t_errno_name(last_errno));
    return n;
}

static int refill(mqd_t wr)
{
    int n = 0;
    while (mq_send(wr, "r", 1, 0) == 0)
        n++;
    last_errno = errno;
    printf("  refilled %d message(s), then %s", n, t_errno_name(last_errno));
    return n;
}

int main(void)
{
    const char *name = t_qname("epollet");
    mqd_t q = t_mq_create("epollet", MAXMSG, 8, 0);
    mqd_t rd = EXPECT_OK(mq_open(name, O_RDONLY | O_NONBLOCK));
    mqd_t wr = EXPECT_OK(mq_open(name, O_WRONLY | O_NONBLOCK));
    int epin = epoll_create1(EPOLL_CLOEXEC), epout = epoll_create1(EPOLL_CLOEXEC);
    T_REQUIRE(epin >= 0 && epout >= 0);
    struct epoll_event ev = { .events = EPOLLIN | EPOLLET };
    T_REQUIRE(epoll_ctl(epin, EPOLL_CTL_ADD, rd, &ev) == 0);
    uint32_t e;
    t_chan go = t_chan_open(), done = t_chan_open();
    pid_t parent = getpid();

    t_say("-- EPOLLIN|EPOLLET on the empty queue");
    printf("epoll_wait(0) -> %d", wait_events(epin, 0, &e));
    mismatch_unless(e == 0, "0");

    t_say("-- the parent blocks in epoll_wait; a child sends one message each time");
    t_child c = t_spawn();
    if (c.pid == 0) {
        for (int i = 0; i < 3; i++) {
            t_chan_wait(&go);
            t_wait_blocked(parent);             /* prints "child is blocked" */
            t_say("(that is the parent, in epoll_wait)");
            EXPECT_EQ(mq_send(q, "m", 1, 0), 0);
        }
        exit(t_child_status());
    }
    for (int i = 0; i < 3; i++) {
        t_chan_post(&go);
        int n = wait_events(epin, 10000, &e);   /* the watchdog bound, not a timing */
        printf("event %d: epoll_wait -> %d %s", i + 1, n, ev_name(e));
        mismatch_unless(n == 1 && e == EPOLLIN, "1 EPOLLIN");
        mismatch_unless(drain(rd) == 1 && last_errno == EAGAIN, "1, EAGAIN");
        printf("  then epoll_wait(0) -> %d", wait_events(epin, 0, &e));
        mismatch_unless(e == 0, "0");
    }
    t_join(&c, 0);

    t_say("-- a child sends k messages, then the parent waits: one event, k drained");
    c = t_spawn();
    if (c.pid == 0) {
        for (int k = 1; k <= MAXMSG; k++) {
            t_chan_wait(&go);
            for (int i = 0; i < k; i++)
                EXPECT_EQ(mq_send(q, "k", 1, 0), 0);
            t_chan_post(&done);
        }
        exit(t_child_status());
    }
    for (int k = 1; k <= MAXMSG; k++) {
        t_chan_post(&go);
        t_chan_wait(&done);
        int n = wait_events(epin, 10000, &e);
        printf("k=%d: epoll_wait -> %d %s", k, n, ev_name(e));
        mismatch_unless(n == 1 && e == EPOLLIN, "1 EPOLLIN");
        mismatch_unless(drain(rd) == k && last_errno == EAGAIN, "k, EAGAIN");
        printf("  then epoll_wait(0) -> %d", wait_events(epin, 0, &e));
        mismatch_unless(e == 0, "0");
    }
    t_join(&c, 0);

    t_say("-- EPOLLOUT|EPOLLET on the full queue");
    mismatch_unless(refill(wr) == MAXMSG && last_errno == EAGAIN, "3, EAGAIN");
    ev.events = EPOLLOUT | EPOLLET;
    T_REQUIRE(epoll_ctl(epout, EPOLL_CTL_ADD, wr, &ev) == 0);
    printf("epoll_wait(0) -> %d", wait_events(epout, 0, &e));
    mismatch_unless(e == 0, "0");
    t_say("-- the parent blocks in epoll_wait; a child receives one message each time");
    c = t_spawn();
    if (c.pid == 0) {
        char buf[8];
        for (int i = 0; i < 2; i++) {
            t_chan_wait(&go);
            t_wait_blocked(parent);
            t_say("(that is the parent, in epoll_wait)");
            EXPECT_EQ(mq_receive(q, buf, sizeof buf, NULL), 1);
        }
        exit(t_child_status());
    }
    for (int i = 0; i < 2; i++) {
        t_chan_post(&go);
        int n = wait_events(epout, 10000, &e);
        printf("event %d: epoll_wait -> %d %s", i + 1, n, ev_name(e));
        mismatch_unless(n == 1 && e == EPOLLOUT, "1 EPOLLOUT");
        mismatch_unless(refill(wr) == 1 && last_errno == EAGAIN, "1, EAGAIN");
        printf("  then epoll_wait(0) -> %d", wait_events(epout, 0, &e));
        mismatch_unless(e == 0, "0");
    }
    t_join(&c, 0);
    mismatch_unless(drain(rd) == MAXMSG, "3");

    close(epin);
    close(epout);
    EXPECT_EQ(mq_close(wr), 0);
    EXPECT_EQ(mq_close(rd), 0);
    EXPECT_EQ(mq_close(q), 0);
    EXPECT_EQ(mq_unlink(name), 0);
    return t_finish();
}
