/* mqt: static */
/* select() sees a queue descriptor as readable exactly when the queue holds a message and as
 * writable exactly when it has room (empty: writable only; one message: both; full: readable
 * only), never as exceptional, for O_RDWR, O_RDONLY and O_WRONLY descriptors alike. A select
 * blocked in a child on the read set wakes when another process sends, with the descriptor
 * readable; one blocked on the write set of a full queue wakes when another process receives. */
#include "harness.h"
#include <sys/select.h>

static void show(const char *label, int fd, int want_r, int want_w)
{
    fd_set r, w, x;
    FD_ZERO(&r);
    FD_ZERO(&w);
    FD_ZERO(&x);
    FD_SET(fd, &r);
    FD_SET(fd, &w);
    FD_SET(fd, &x);
    struct timeval zero = { 0, 0 };
    int n = select(fd + 1, &r, &w, &x, &zero);
    int is_r = FD_ISSET(fd, &r) != 0, is_w = FD_ISSET(fd, &w) != 0, is_x = FD_ISSET(fd, &x) != 0;
    printf("  %-8s select -> %d: readable %s, writable %s, exceptional %s", label, n,
           is_r ? "yes" : "no", is_w ? "yes" : "no", is_x ? "yes" : "no");
    if (n != want_r + want_w || is_r != want_r || is_w != want_w || is_x) {
        t_failures++;
        printf("  !! MISMATCH: expected readable %s, writable %s", want_r ? "yes" : "no",
               want_w ? "yes" : "no");
    }
    printf("\n");
}

static void state(const char *what, mqd_t rw, mqd_t ro, mqd_t wo, int want_r, int want_w)
{
    t_say("-- %s", what);
    show("O_RDWR", rw, want_r, want_w);
    show("O_RDONLY", ro, want_r, want_w);
    show("O_WRONLY", wo, want_r, want_w);
}

/* In a child: block in select on one set of `fd` and report what woke it. */
static void blocked_select(int fd, int for_write, t_chan *ready)
{
    fd_set set;
    FD_ZERO(&set);
    FD_SET(fd, &set);
    struct timeval bound = { 10, 0 };           /* the watchdog bound, not a timing */
    t_chan_post(ready);
    int n = select(fd + 1, for_write ? NULL : &set, for_write ? &set : NULL, NULL, &bound);
    printf("select -> %d, descriptor %s %s", n, for_write ? "writable" : "readable",
           FD_ISSET(fd, &set) ? "yes" : "no");
    if (n != 1 || !FD_ISSET(fd, &set)) {
        t_failures++;
        printf("  !! MISMATCH: expected 1, yes");
    }
    printf("\n");
}

int main(void)
{
    const char *name = t_qname("selectrw");
    mqd_t q = t_mq_create("selectrw", 2, 8, 0);
    mqd_t ro = EXPECT_OK(mq_open(name, O_RDONLY));
    mqd_t wo = EXPECT_OK(mq_open(name, O_WRONLY));
    char buf[8];

    state("empty", q, ro, wo, 0, 1);
    EXPECT_EQ(mq_send(wo, "a", 1, 0), 0);
    state("one message (of 2)", q, ro, wo, 1, 1);
    EXPECT_EQ(mq_send(wo, "b", 1, 0), 0);
    state("full", q, ro, wo, 1, 0);
    EXPECT_EQ(mq_receive(ro, buf, sizeof buf, NULL), 1);
    EXPECT_EQ(mq_receive(ro, buf, sizeof buf, NULL), 1);
    state("empty again", q, ro, wo, 0, 1);

    t_say("-- a child blocked in select (read set) on the empty queue; another process sends");
    t_chan ready = t_chan_open(), go = t_chan_open();
    t_child c = t_spawn();
    if (c.pid == 0) {
        blocked_select(ro, 0, &ready);
        exit(t_child_status());
    }
    t_child s = t_spawn();
    if (s.pid == 0) {
        t_chan_wait(&go);
        EXPECT_EQ(mq_send(wo, "c", 1, 0), 0);
        exit(t_child_status());
    }
    t_chan_wait(&ready);
    t_wait_blocked(c.pid);
    t_chan_post(&go);
    t_join(&s, 0);
    t_join(&c, 0);

    t_say("-- a child blocked in select (write set) on the full queue; another process receives");
    EXPECT_EQ(mq_send(wo, "d", 1, 0), 0);
    c = t_spawn();
    if (c.pid == 0) {
        blocked_select(wo, 1, &ready);
        exit(t_child_status());
    }
    s = t_spawn();
    if (s.pid == 0) {
        t_chan_wait(&go);
        EXPECT_EQ(mq_receive(ro, buf, sizeof buf, NULL), 1);
        exit(t_child_status());
    }
    t_chan_wait(&ready);
    t_wait_blocked(c.pid);
    t_chan_post(&go);
    t_join(&s, 0);
    t_join(&c, 0);
    EXPECT_EQ(mq_receive(ro, buf, sizeof buf, NULL), 1);

    EXPECT_EQ(mq_close(wo), 0);
    EXPECT_EQ(mq_close(ro), 0);
    EXPECT_EQ(mq_close(q), 0);
    EXPECT_EQ(mq_unlink(name), 0);
    return t_finish();
}
