/* mqt: static */
/* poll() on a queue descriptor reports readable (POLLIN|POLLRDNORM) exactly when the queue holds
 * a message and writable (POLLOUT|POLLWRNORM) exactly when it has room — empty: POLLOUT only
 * (revents 0x4 when asking for POLLIN|POLLOUT), one message: both, full: POLLIN only — and it
 * does so for O_RDONLY and O_WRONLY descriptors alike (the access mode does not matter), never
 * with POLLPRI/POLLERR/POLLHUP. A poll blocked in a child wakes when another process sends
 * (POLLIN), and one blocked on a full queue wakes when another process receives (POLLOUT). */
#include "harness.h"
#include <poll.h>

static void names(short r)
{
    static const struct { short bit; const char *name; } bits[] = {
        { POLLIN, "POLLIN" }, { POLLRDNORM, "POLLRDNORM" }, { POLLRDBAND, "POLLRDBAND" },
        { POLLPRI, "POLLPRI" }, { POLLOUT, "POLLOUT" }, { POLLWRNORM, "POLLWRNORM" },
        { POLLWRBAND, "POLLWRBAND" }, { POLLERR, "POLLERR" }, { POLLHUP, "POLLHUP" },
        { POLLNVAL, "POLLNVAL" },
    };
    int any = 0;
    for (size_t i = 0; i < sizeof bits / sizeof bits[0]; i++)
        if (r & bits[i].bit) {
            printf("%s%s", any ? "|" : "", bits[i].name);
            any = 1;
        }
    if (!any)
        printf("0");
}

/* `want` is what poll(POLLIN|POLLOUT) gives; asking for every input/output bit adds exactly
 * POLLRDNORM to POLLIN and POLLWRNORM to POLLOUT. */
static void show(const char *label, int fd, short want)
{
    struct pollfd p = { .fd = fd, .events = POLLIN | POLLOUT };
    int n = poll(&p, 1, 0);
    printf("  %-8s poll(POLLIN|POLLOUT) -> %d, revents 0x%x", label, n, (unsigned)p.revents);
    struct pollfd all = { .fd = fd, .events = POLLIN | POLLRDNORM | POLLRDBAND | POLLPRI |
                                             POLLOUT | POLLWRNORM | POLLWRBAND };
    poll(&all, 1, 0);
    printf("; asking for everything: ");
    names(all.revents);
    short want_all = (short)(want | ((want & POLLIN) ? POLLRDNORM : 0) |
                             ((want & POLLOUT) ? POLLWRNORM : 0));
    if (n != 1 || p.revents != want || all.revents != want_all) {
        t_failures++;
        printf("  !! MISMATCH: expected 0x%x", (unsigned)want);
    }
    printf("\n");
}

static void state(const char *what, mqd_t rw, mqd_t ro, mqd_t wo, short want)
{
    t_say("-- %s", what);
    show("O_RDWR", rw, want);
    show("O_RDONLY", ro, want);
    show("O_WRONLY", wo, want);
}

/* In a child: block in poll for `events` and report what woke it. */
static void blocked_poll(int fd, short events, t_chan *ready)
{
    struct pollfd p = { .fd = fd, .events = events };
    t_chan_post(ready);
    int n = poll(&p, 1, 10000);                 /* the watchdog bound, not a timing */
    printf("poll -> %d, revents ", n);
    names(p.revents);
    if (n != 1 || p.revents != events) {
        t_failures++;
        printf("  !! MISMATCH: expected 1, revents 0x%x", (unsigned)events);
    }
    printf("\n");
}

int main(void)
{
    const char *name = t_qname("pollrw");
    mqd_t q = t_mq_create("pollrw", 2, 8, 0);
    mqd_t ro = EXPECT_OK(mq_open(name, O_RDONLY));
    mqd_t wo = EXPECT_OK(mq_open(name, O_WRONLY));
    char buf[8];

    state("empty", q, ro, wo, POLLOUT);
    EXPECT_EQ(mq_send(wo, "a", 1, 0), 0);
    state("one message (of 2)", q, ro, wo, POLLIN | POLLOUT);
    EXPECT_EQ(mq_send(wo, "b", 1, 0), 0);
    state("full", q, ro, wo, POLLIN);
    EXPECT_EQ(mq_receive(ro, buf, sizeof buf, NULL), 1);
    state("one message again", q, ro, wo, POLLIN | POLLOUT);
    EXPECT_EQ(mq_receive(ro, buf, sizeof buf, NULL), 1);
    state("empty again", q, ro, wo, POLLOUT);

    t_say("-- a child blocked in poll(POLLIN) on the empty queue; the parent sends");
    t_chan ready = t_chan_open();
    t_child c = t_spawn();
    if (c.pid == 0) {
        blocked_poll(ro, POLLIN, &ready);
        exit(t_child_status());
    }
    t_chan_wait(&ready);
    t_wait_blocked(c.pid);
    EXPECT_EQ(mq_send(wo, "c", 1, 0), 0);
    t_join(&c, 0);

    t_say("-- a child blocked in poll(POLLOUT) on the full queue; the parent receives");
    EXPECT_EQ(mq_send(wo, "d", 1, 0), 0);
    c = t_spawn();
    if (c.pid == 0) {
        blocked_poll(wo, POLLOUT, &ready);
        exit(t_child_status());
    }
    t_chan_wait(&ready);
    t_wait_blocked(c.pid);
    EXPECT_EQ(mq_receive(ro, buf, sizeof buf, NULL), 1);
    t_join(&c, 0);
    EXPECT_EQ(mq_receive(ro, buf, sizeof buf, NULL), 1);

    EXPECT_EQ(mq_close(wo), 0);
    EXPECT_EQ(mq_close(ro), 0);
    EXPECT_EQ(mq_close(q), 0);
    EXPECT_EQ(mq_unlink(name), 0);
    return t_finish();
}
