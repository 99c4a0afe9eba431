/* mqt: static */
/* A forked child's inherited queue descriptors are full queue descriptors of the same queue,
 * with the access mode they were opened with: through the inherited O_RDONLY one the child
 * sees the queue's attributes and receives what the parent sent (sending through it is EBADF),
 * through the inherited O_WRONLY one it sends what the parent then receives (receiving through
 * it is EBADF); a grandchild inherits them again. The child closing its copies (mq_close,
 * close) leaves the parent's descriptors working. And the inherited descriptors keep the queue
 * alive: after the parent closed all of its descriptors and unlinked the name, the child still
 * sends and receives through them. (O_NONBLOCK sharing and close-on-exec have their own tests.) */
#include "harness.h"

static void show_attr(const char *label, mqd_t d)
{
    struct mq_attr a;
    if (EXPECT_EQ(mq_getattr(d, &a), 0) == 0)
        t_say("%s: maxmsg %ld msgsize %ld curmsgs %ld", label, a.mq_maxmsg, a.mq_msgsize,
              a.mq_curmsgs);
}

static void receive(const char *label, mqd_t d)
{
    char buf[16];
    unsigned prio;
    long n = EXPECT_OK(mq_receive(d, buf, sizeof buf, &prio));
    if (n >= 0)
        t_show_msg(label, buf, n, prio);
}

int main(void)
{
    const char *name = t_qname("forkfds");
    mqd_t q = t_mq_create("forkfds", 4, 16, 0);
    mqd_t ro = EXPECT_OK(mq_open(name, O_RDONLY));
    mqd_t wo = EXPECT_OK(mq_open(name, O_WRONLY));
    char buf[16];

    t_say("-- the child uses the inherited descriptors");
    EXPECT_EQ(mq_send(wo, "to-child", 8, 3), 0);
    t_child c = t_spawn();
    if (c.pid == 0) {
        show_attr("child, inherited O_RDONLY", ro);
        receive("child received", ro);
        EXPECT_EQ(mq_send(wo, "to-parent", 9, 5), 0);
        EXPECT_ERR(mq_send(ro, "x", 1, 0), EBADF);
        EXPECT_ERR(mq_receive(wo, buf, sizeof buf, NULL), EBADF);
        t_say("a grandchild inherits them again:");
        t_child g = t_spawn();
        if (g.pid == 0) {
            EXPECT_EQ(mq_send(wo, "from-grandchild", 15, 1), 0);
            exit(t_child_status());
        }
        t_join(&g, 0);
        t_say("the child closes its copies");
        EXPECT_EQ(mq_close(ro), 0);
        EXPECT_EQ(close(wo), 0);
        EXPECT_ERR(mq_getattr(ro, &(struct mq_attr){ 0 }), EBADF);
        exit(t_child_status());
    }
    t_join(&c, 0);
    t_say("the parent's descriptors still work:");
    show_attr("parent, O_RDONLY", ro);
    receive("parent received", ro);
    receive("parent received", ro);
    EXPECT_EQ(mq_send(wo, "again", 5, 0), 0);
    receive("parent received", q);

    t_say("-- the inherited descriptors keep the queue alive");
    t_chan gone = t_chan_open();
    c = t_spawn();
    if (c.pid == 0) {
        t_chan_wait(&gone);
        show_attr("child after the parent closed and unlinked", ro);
        EXPECT_EQ(mq_send(wo, "still-here", 10, 2), 0);
        receive("child received", ro);
        EXPECT_EQ(mq_send(q, "and-here", 8, 2), 0);
        receive("child received", q);
        exit(t_child_status());
    }
    EXPECT_EQ(mq_close(ro), 0);
    EXPECT_EQ(mq_close(wo), 0);
    EXPECT_EQ(mq_close(q), 0);
    EXPECT_EQ(mq_unlink(name), 0);
    t_chan_post(&gone);
    t_join(&c, 0);
    EXPECT_ERR(mq_open(name, O_RDONLY), ENOENT);
    return t_finish();
}
