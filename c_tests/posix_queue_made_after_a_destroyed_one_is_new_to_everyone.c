/* A queue made after another was destroyed is a new queue to every process, whatever the
 * emulation reuses of the old one (a process keeps the directory, FIFO and segment of a queue
 * it made and destroyed for its next queue of the same owner, mode and size: see
 * src/emu/posix/spare.rs). A child opens, receives from and closes the parent's queues A and
 * C, polling A (so it remembers both, and may hold their FIFOs); the parent then closes and
 * unlinks both (destroying them) and makes B and, again, A with the same attributes. The child
 * must find: the new A empty, B empty and not readable to poll, the parent's message in B once
 * sent, A's and B's messages each in its own queue, C gone, mq_getattr and the fstat mode as
 * on the kernel. */
#include "harness.h"
#include <poll.h>

static void show_attr(const char *what, mqd_t q)
{
    struct mq_attr a;
    EXPECT_OK(mq_getattr(q, &a));
    t_say("%s: maxmsg %ld msgsize %ld curmsgs %ld", what, a.mq_maxmsg, a.mq_msgsize, a.mq_curmsgs);
}

/* poll for POLLIN, waiting up to wait_ms (a message another process sent reaches a poller of
 * the Redis backend a little later). */
static void show_readable(const char *what, mqd_t q, int wait_ms)
{
    struct pollfd p = { .fd = q, .events = POLLIN };
    int n = poll(&p, 1, wait_ms);
    t_say("%s: poll -> %d%s", what, n, n == 1 && (p.revents & POLLIN) ? " POLLIN" : "");
}

static void receive_one(const char *what, mqd_t q)
{
    char buf[32] = { 0 };
    unsigned prio = 0;
    ssize_t n = mq_receive(q, buf, sizeof buf, &prio);
    if (n < 0)
        t_say("%s: receive -> -1 %s", what, t_errno_name(errno));
    else
        t_say("%s: received '%.*s' prio %u", what, (int)n, buf, prio);
}

int main(void)
{
    t_chan to_child = t_chan_open(), to_parent = t_chan_open();
    /* Made after the fork, so that the child has no descriptor of them but its own. */
    pid_t child = t_fork();
    if (child == 0) {
        t_chan_wait(&to_child);
        mqd_t q = mq_open(t_qname("A"), O_RDWR | O_NONBLOCK);
        T_REQUIRE(q != (mqd_t)-1);
        show_readable("child, old A", q, 0);
        receive_one("child, old A", q);
        show_readable("child, old A emptied", q, 0);
        EXPECT_OK(mq_close(q));
        q = mq_open(t_qname("C"), O_RDWR | O_NONBLOCK);
        T_REQUIRE(q != (mqd_t)-1);
        receive_one("child, old C", q);
        EXPECT_OK(mq_close(q));
        t_chan_post(&to_parent);
        t_chan_wait(&to_child);

        /* A and C destroyed, then B and a new A made by the parent. */
        EXPECT_ERR(mq_open(t_qname("C"), O_RDWR), ENOENT);
        q = mq_open(t_qname("B"), O_RDWR | O_NONBLOCK);
        T_REQUIRE(q != (mqd_t)-1);
        show_attr("child, B", q);
        show_readable("child, B", q, 0);
        receive_one("child, B", q);
        mqd_t na = mq_open(t_qname("A"), O_RDWR | O_NONBLOCK);
        T_REQUIRE(na != (mqd_t)-1);
        show_attr("child, new A", na);
        show_readable("child, new A", na, 0);
        t_chan_post(&to_parent);
        t_chan_wait(&to_child);

        /* The parent sent one message to each. */
        show_readable("child, B after the send", q, 10000);
        receive_one("child, B", q);
        receive_one("child, new A", na);
        receive_one("child, new A again", na);
        struct stat st;
        EXPECT_OK(fstat(q, &st));
        t_say("child, B: fstat mode %o", (unsigned)st.st_mode & 07777);
        EXPECT_OK(mq_close(q));
        EXPECT_OK(mq_close(na));
        exit(t_finish());
    }
    mqd_t a = t_mq_create("A", 4, 32, 0);
    mqd_t c = t_mq_create("C", 4, 32, 0);
    EXPECT_OK(mq_send(a, "a-old", 5, 3));
    EXPECT_OK(mq_send(c, "c-old", 5, 4));
    t_chan_post(&to_child);
    t_chan_wait(&to_parent);
    EXPECT_OK(mq_close(a));
    EXPECT_OK(mq_close(c));
    EXPECT_OK(mq_unlink(t_qname("A")));
    EXPECT_OK(mq_unlink(t_qname("C")));
    mqd_t b = t_mq_create("B", 4, 32, 0);
    a = t_mq_create("A", 4, 32, 0);
    t_chan_post(&to_child);
    t_chan_wait(&to_parent);
    EXPECT_OK(mq_send(b, "b-new", 5, 1));
    EXPECT_OK(mq_send(a, "a-new", 5, 2));
    t_chan_post(&to_child);
    t_say("child exited with %d", t_reap(child));
    EXPECT_OK(mq_close(a));
    EXPECT_OK(mq_close(b));
    EXPECT_OK(mq_unlink(t_qname("A")));
    EXPECT_OK(mq_unlink(t_qname("B")));
    return t_finish();
}
