/* mqt: static */
/* A poller is woken by changes that a process which never polled makes — here a child forked
 * before the parent first polled, so that it shares nothing of the parent's polling (under the
 * Redis backend the wake-up then comes through the server, as from another host). The parent
 * blocks in poll(POLLIN) on the empty queue and wakes when the child sends; blocks in
 * poll(POLLOUT) on the full queue and wakes when the child receives; and with
 * EPOLLIN|EPOLLET it gets one event per send of the child, each drained, with nothing more
 * reported after the drain. */
#include "harness.h"
#include <poll.h>
#include <sys/epoll.h>

static void blocked_poll(mqd_t fd, short events)
{
    struct pollfd p = { .fd = fd, .events = events };
    int n = poll(&p, 1, 10000);                 /* the watchdog bound, not a timing */
    printf("poll -> %d, revents %s\n", n,
           p.revents == POLLIN ? "POLLIN" : p.revents == POLLOUT ? "POLLOUT" : "other");
    if (n != 1 || p.revents != events)
        t_failures++;
}

int main(void)
{
    const char *name = t_qname("pollother");
    mqd_t q = t_mq_create("pollother", 2, 8, O_NONBLOCK);
    t_chan go = t_chan_open();
    pid_t parent = getpid();
    char buf[8];

    t_child c = t_spawn();                      /* before the parent polls anything */
    if (c.pid == 0) {
        for (int i = 0; i < 4; i++) {
            t_chan_wait(&go);
            t_wait_blocked(parent);             /* prints "child is blocked" */
            if (i == 1)
                EXPECT_EQ(mq_receive(q, buf, sizeof buf, NULL), 1);
            else
                EXPECT_EQ(mq_send(q, "m", 1, 0), 0);
        }
        exit(t_child_status());
    }

    t_say("-- poll(POLLIN) on the empty queue; the child sends");
    struct pollfd now = { .fd = q, .events = POLLIN | POLLOUT };
    EXPECT_EQ(poll(&now, 1, 0), 1);
    t_check("empty: POLLOUT only", now.revents == POLLOUT);
    t_chan_post(&go);
    blocked_poll(q, POLLIN);
    EXPECT_EQ(mq_receive(q, buf, sizeof buf, NULL), 1);

    t_say("-- poll(POLLOUT) on the full queue; the child receives");
    EXPECT_EQ(mq_send(q, "p", 1, 0), 0);
    EXPECT_EQ(mq_send(q, "q", 1, 0), 0);
    now.revents = 0;
    EXPECT_EQ(poll(&now, 1, 0), 1);
    t_check("full: POLLIN only", now.revents == POLLIN);
    t_chan_post(&go);
    blocked_poll(q, POLLOUT);
    EXPECT_EQ(mq_receive(q, buf, sizeof buf, NULL), 1);
    EXPECT_ERR(mq_receive(q, buf, sizeof buf, NULL), EAGAIN);

    t_say("-- EPOLLIN|EPOLLET: one event per send of the child, drained, then nothing");
    int ep = epoll_create1(EPOLL_CLOEXEC);
    T_REQUIRE(ep >= 0);
    struct epoll_event ev = { .events = EPOLLIN | EPOLLET };
    T_REQUIRE(epoll_ctl(ep, EPOLL_CTL_ADD, q, &ev) == 0);
    for (int i = 0; i < 2; i++) {
        t_chan_post(&go);
        struct epoll_event got[2];
        int n = epoll_wait(ep, got, 2, 10000);
        printf("epoll_wait -> %d %s\n", n, n == 1 && got[0].events == EPOLLIN ? "EPOLLIN" : "other");
        if (n != 1 || got[0].events != EPOLLIN)
            t_failures++;
        int drained = 0;
        while (mq_receive(q, buf, sizeof buf, NULL) == 1)
            drained++;
        n = epoll_wait(ep, got, 2, 0);
        printf("drained %d, then epoll_wait(0) -> %d\n", drained, n);
        if (drained != 1 || n != 0)
            t_failures++;
    }
    t_join(&c, 0);

    close(ep);
    EXPECT_EQ(mq_close(q), 0);
    EXPECT_EQ(mq_unlink(name), 0);
    return t_finish();
}
