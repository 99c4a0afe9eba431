/* mqt: static */
/* Level-triggered epoll on queue descriptors: EPOLLIN (with EPOLLRDNORM when asked) is
 * reported exactly while the queue holds a message and EPOLLOUT (with EPOLLWRNORM) exactly
 * while it has room — and reported again on every epoll_wait while it lasts. Both appear and
 * disappear as messages come and go, also when another process makes the change, and the
 * access mode of the descriptor does not matter (an O_RDONLY descriptor reports EPOLLOUT, an
 * O_WRONLY one EPOLLIN). */
#include "harness.h"
#include <sys/epoll.h>

static void names(uint32_t e)
{
    static const struct { uint32_t bit; const char *name; } bits[] = {
        { EPOLLIN, "EPOLLIN" }, { EPOLLRDNORM, "EPOLLRDNORM" }, { EPOLLRDBAND, "EPOLLRDBAND" },
        { EPOLLPRI, "EPOLLPRI" }, { EPOLLOUT, "EPOLLOUT" }, { EPOLLWRNORM, "EPOLLWRNORM" },
        { EPOLLWRBAND, "EPOLLWRBAND" }, { EPOLLERR, "EPOLLERR" }, { EPOLLHUP, "EPOLLHUP" },
        { EPOLLRDHUP, "EPOLLRDHUP" },
    };
    int any = 0;
    for (size_t i = 0; i < sizeof bits / sizeof bits[0]; i++)
        if (e & bits[i].bit) {
            printf("%s%s", any ? "|" : "", bits[i].name);
            any = 1;
        }
    if (!any)
        printf("0");
}

static const char *const labels[] = { "O_RDWR", "O_RDONLY", "O_WRONLY" };

/* What each registered descriptor should report: want[k] for descriptor k. */
static uint32_t want[3];

static void expect_levels(int in, int out, int ndesc)
{
    for (int k = 0; k < 3; k++) {
        uint32_t norm_in = k == 1 ? 0 : EPOLLRDNORM, norm_out = k == 1 ? 0 : EPOLLWRNORM;
        want[k] = k >= ndesc ? 0
                             : (in ? EPOLLIN | norm_in : 0) | (out ? EPOLLOUT | norm_out : 0);
    }
}

/* epoll_wait(0) twice (level-triggered: the same answer) and print the events per descriptor. */
static void state(const char *what, int ep)
{
    t_say("-- %s", what);
    int want_n = (want[0] != 0) + (want[1] != 0) + (want[2] != 0);
    for (int round = 0; round < 2; round++) {
        struct epoll_event ev[4];
        int n = epoll_wait(ep, ev, 4, 0);
        uint32_t got[3] = { 0, 0, 0 };
        for (int i = 0; i < n; i++)
            if (ev[i].data.u32 < 3)
                got[ev[i].data.u32] = ev[i].events;
        printf("  epoll_wait -> %d:", n);
        int bad = n != want_n;
        for (int k = 0; k < 3; k++) {
            printf(" %s ", labels[k]);
            names(got[k]);
            bad |= got[k] != want[k];
        }
        if (bad) {
            t_failures++;
            printf("  !! MISMATCH: expected");
            for (int k = 0; k < 3; k++) {
                printf(" ");
                names(want[k]);
            }
        }
        printf("\n");
    }
}

int main(void)
{
    const char *name = t_qname("epolllt");
    mqd_t q = t_mq_create("epolllt", 2, 8, 0);
    mqd_t ro = EXPECT_OK(mq_open(name, O_RDONLY));
    mqd_t wo = EXPECT_OK(mq_open(name, O_WRONLY));
    int ep = epoll_create1(EPOLL_CLOEXEC);
    T_REQUIRE(ep >= 0);
    mqd_t fds[3] = { q, ro, wo };
    for (uint32_t k = 0; k < 3; k++) {
        struct epoll_event ev = { .events = EPOLLIN | EPOLLRDNORM | EPOLLOUT | EPOLLWRNORM,
                                  .data.u32 = k };
        if (k == 1)
            ev.events = EPOLLIN | EPOLLOUT;     /* without the *NORM bits */
        t_check("EPOLL_CTL_ADD", epoll_ctl(ep, EPOLL_CTL_ADD, fds[k], &ev) == 0);
    }
    char buf[8];

    expect_levels(0, 1, 3);
    state("empty", ep);
    EXPECT_EQ(mq_send(q, "a", 1, 0), 0);
    expect_levels(1, 1, 3);
    state("one message (of 2)", ep);
    EXPECT_EQ(mq_send(q, "b", 1, 0), 0);
    expect_levels(1, 0, 3);
    state("full", ep);
    EXPECT_EQ(mq_receive(q, buf, sizeof buf, NULL), 1);
    expect_levels(1, 1, 3);
    state("one message", ep);
    EXPECT_EQ(mq_receive(q, buf, sizeof buf, NULL), 1);
    expect_levels(0, 1, 3);
    state("empty", ep);

    t_say("-- another process fills the queue");
    t_child c = t_spawn();
    if (c.pid == 0) {
        EXPECT_EQ(mq_send(wo, "c", 1, 0), 0);
        EXPECT_EQ(mq_send(wo, "d", 1, 0), 0);
        exit(t_child_status());
    }
    t_join(&c, 0);
    expect_levels(1, 0, 3);
    state("full", ep);
    t_say("-- another process empties it");
    c = t_spawn();
    if (c.pid == 0) {
        EXPECT_EQ(mq_receive(ro, buf, sizeof buf, NULL), 1);
        EXPECT_EQ(mq_receive(ro, buf, sizeof buf, NULL), 1);
        exit(t_child_status());
    }
    t_join(&c, 0);
    expect_levels(0, 1, 3);
    state("empty", ep);

    t_say("-- only EPOLLIN asked for: nothing while empty, EPOLLIN with a message");
    struct epoll_event only_in = { .events = EPOLLIN, .data.u32 = 0 };
    t_check("EPOLL_CTL_MOD", epoll_ctl(ep, EPOLL_CTL_MOD, q, &only_in) == 0);
    t_check("EPOLL_CTL_DEL O_RDONLY", epoll_ctl(ep, EPOLL_CTL_DEL, ro, NULL) == 0);
    t_check("EPOLL_CTL_DEL O_WRONLY", epoll_ctl(ep, EPOLL_CTL_DEL, wo, NULL) == 0);
    expect_levels(0, 0, 1);
    state("empty", ep);
    EXPECT_EQ(mq_send(q, "e", 1, 0), 0);
    expect_levels(1, 0, 1);
    want[0] = EPOLLIN;                          /* EPOLLRDNORM no longer asked for */
    state("one message", ep);
    EXPECT_EQ(mq_receive(q, buf, sizeof buf, NULL), 1);

    close(ep);
    EXPECT_EQ(mq_close(wo), 0);
    EXPECT_EQ(mq_close(ro), 0);
    EXPECT_EQ(mq_close(q), 0);
    EXPECT_EQ(mq_unlink(name), 0);
    return t_finish();
}
