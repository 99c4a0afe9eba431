/* mqt: static */
/* An mq_open reaches the queue the name names at that instant, whatever queue the same process
 * opened by that name before: a child opens a queue (once it is a clock tick old) and closes
 * it; the parent unlinks the name — the child's next open is ENOENT — and creates a new queue
 * under it; the child's next open reaches the new queue (its message proves it), and so again
 * after the parent replaced that one too. (Under mqshim the child remembers a queue it opened,
 * which must not outlive the name's change.) */
#include "harness.h"

static void make(const char *name, const char *text)
{
    struct mq_attr attr = { .mq_maxmsg = 2, .mq_msgsize = 16 };
    mqd_t q = EXPECT_OK(mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0600, &attr));
    EXPECT_EQ(mq_send(q, text, strlen(text), 0), 0);
    EXPECT_EQ(mq_close(q), 0);
}

/* Opens `name`, shows the message at its head (left there: received then sent back). */
static void peek(const char *label, const char *name)
{
    errno = 0;
    mqd_t q = mq_open(name, O_RDWR | O_NONBLOCK);
    if (q == (mqd_t)-1) {
        t_say("%s: open -> %s", label, t_errno_name(errno));
        return;
    }
    char buf[16];
    unsigned prio;
    long n = EXPECT_OK(mq_receive(q, buf, sizeof buf, &prio));
    if (n >= 0) {
        t_show_msg(label, buf, n, prio);
        EXPECT_EQ(mq_send(q, buf, (size_t)n, prio), 0);
    }
    EXPECT_EQ(mq_close(q), 0);
}

int main(void)
{
    const char *name = t_qname("reopen");
    make(name, "first");
    t_let_the_clock_tick();
    t_chan step = t_chan_open(), done = t_chan_open();
    t_child c = t_spawn();
    if (c.pid == 0) {
        peek("child opens", name);
        peek("child opens again", name);
        t_chan_post(&done);
        t_chan_wait(&step);
        peek("after the unlink", name);
        t_chan_post(&done);
        t_chan_wait(&step);
        peek("after the re-creation", name);
        peek("and again", name);
        t_chan_post(&done);
        t_chan_wait(&step);
        peek("after the second re-creation", name);
        exit(t_child_status());
    }
    t_chan_wait(&done);
    EXPECT_EQ(mq_unlink(name), 0);
    t_chan_post(&step);
    t_chan_wait(&done);
    make(name, "second");
    t_let_the_clock_tick();
    t_chan_post(&step);
    t_chan_wait(&done);
    EXPECT_EQ(mq_unlink(name), 0);
    make(name, "third");
    t_chan_post(&step);
    t_join(&c, 0);
    EXPECT_EQ(mq_unlink(name), 0);
    return t_finish();
}
