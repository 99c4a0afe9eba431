/* mqt: skip-config shim-redis */
/* Not under Redis (shim-redis skipped): there a receive that makes room reserves the slot for the
 * first blocked sender, but the sender's message (held by the sender, so that a sender killed
 * while blocked never sends) enters when the sender runs, one round trip later; a receive in
 * that window can take a lower-priority message first. README "Across machines" lists it. */
/* Pipelined receive: receiving from a full queue moves the first blocked sender's message
 * into the queue inside the same call, so mq_curmsgs is still maxmsg right after the
 * receive. Blocked senders keep their blocking order: a later sender with a higher priority
 * does not get in before an earlier one, and the queue then orders what it holds by priority. */
#include "harness.h"

static t_child sender(mqd_t q, t_chan *go, t_chan *ready, const char *text, unsigned prio)
{
    t_child c = t_spawn();
    if (c.pid == 0) {
        struct mq_attr attr;
        mq_getattr(q, &attr);                   /* warm up before announcing the wait */
        t_chan_wait(go);
        t_chan_post(ready);
        EXPECT_EQ(mq_send(q, text, strlen(text), prio), 0);
        exit(t_child_status());
    }
    return c;
}

static void receive_one(mqd_t q)
{
    char buf[16];
    unsigned prio;
    long n = EXPECT_OK(mq_receive(q, buf, sizeof buf, &prio));
    if (n >= 0)
        t_show_msg("received", buf, n, prio);
    struct mq_attr attr;
    EXPECT_EQ(mq_getattr(q, &attr), 0);
    t_say("curmsgs right after: %ld", attr.mq_curmsgs);
}

int main(void)
{
    const char *name = t_qname("piperecv");
    mqd_t q = t_mq_create("piperecv", 2, 16, 0);
    t_chan go1 = t_chan_open(), go2 = t_chan_open();
    t_chan ready1 = t_chan_open(), ready2 = t_chan_open();

    EXPECT_EQ(mq_send(q, "a", 1, 1), 0);
    EXPECT_EQ(mq_send(q, "b", 1, 2), 0);
    t_say("queue full (maxmsg 2)");

    t_child s1 = sender(q, &go1, &ready1, "c", 3);
    t_child s2 = sender(q, &go2, &ready2, "d", 9);
    t_say("sender of \"c\" (prio 3) blocks first:");
    t_chan_post(&go1);
    t_chan_wait(&ready1);
    t_wait_blocked(s1.pid);
    t_say("then the sender of \"d\" (prio 9):");
    t_chan_post(&go2);
    t_chan_wait(&ready2);
    t_wait_blocked(s2.pid);

    receive_one(q);     /* b; c moves in */
    receive_one(q);     /* c; d moves in */
    receive_one(q);     /* d */
    receive_one(q);     /* a */

    t_join(&s1, 0);
    t_join(&s2, 0);
    EXPECT_EQ(mq_close(q), 0);
    EXPECT_EQ(mq_unlink(name), 0);
    return t_finish();
}
