/* mqt: static */
/* A queue created after its creator closed and unlinked another is a new queue in everything a
 * caller can see, whatever the emulation reuses of the old one (a spare segment: see the
 * README): empty, its attributes and mode its own, under the old name or another. Another
 * process that used the old queue before (and may still map it) then opens the new one by name
 * and uses it as anyone would. A queue unlinked while another process has it open lives on for
 * that process, apart from the new queue of its name. After a fork, parent and child each
 * create a queue of their own at once (the parent holds a spare the child inherited a view
 * of). A queue whose notification was registered is followed by a queue that takes a new
 * registration. Three rounds of the first case. */
#include "harness.h"

static const struct mq_attr small = { .mq_maxmsg = 4, .mq_msgsize = 32 };

static mqd_t create(const char *name, int mode)
{
    struct mq_attr a = small;
    mqd_t q = mq_open(name, O_RDWR | O_CREAT | O_EXCL | O_NONBLOCK, mode, &a);
    T_REQUIRE(q != (mqd_t)-1);
    return q;
}

/* What a caller sees of a queue just created, and that it is empty. */
static void show_new(const char *what, mqd_t q)
{
    struct mq_attr a;
    EXPECT_OK(mq_getattr(q, &a));
    t_say("%s: maxmsg %ld msgsize %ld curmsgs %ld", what, a.mq_maxmsg, a.mq_msgsize, a.mq_curmsgs);
    char buf[32];
    EXPECT_ERR(mq_receive(q, buf, sizeof buf, NULL), EAGAIN);
}

static void send(mqd_t q, const char *text, unsigned prio)
{
    EXPECT_OK(mq_send(q, text, strlen(text), prio));
}

static void receive(const char *what, mqd_t q)
{
    char buf[32];
    unsigned prio = 0;
    long n = EXPECT_OK(mq_receive(q, buf, sizeof buf, &prio));
    if (n >= 0)
        t_show_msg(what, buf, n, prio);
}

/* Another process that used queue `a` before it was destroyed, closed it, and opens the new
 * queues of names `a` and `b` when told. */
static void other_user(mqd_t inherited, const char *a, const char *b, t_chan *used, t_chan *go)
{
    /* Only its own descriptors: the parent's last close is the queue's. */
    close((int)inherited);
    mqd_t q = mq_open(a, O_RDWR | O_NONBLOCK);
    T_REQUIRE(q != (mqd_t)-1);
    send(q, "before", 3);
    EXPECT_OK(mq_close(q));
    t_chan_post(used);
    t_chan_wait(go);
    q = mq_open(a, O_RDWR | O_NONBLOCK);
    T_REQUIRE(q != (mqd_t)-1);
    show_new("other process: the new queue of the old name", q);
    send(q, "from the other", 5);
    EXPECT_OK(mq_close(q));
    q = mq_open(b, O_WRONLY | O_NONBLOCK);
    T_REQUIRE(q != (mqd_t)-1);
    send(q, "to the other name", 6);
    EXPECT_OK(mq_close(q));
    exit(t_child_status());
}

static void round_of(int round)
{
    t_say("-- round %d", round);
    char tag[32];
    snprintf(tag, sizeof tag, "old%d", round);
    const char *a = t_qname(tag);
    snprintf(tag, sizeof tag, "other%d", round);
    const char *b = t_qname(tag);
    mqd_t q = create(a, 0600);
    send(q, "a", 1);
    send(q, "bb", 2);
    receive("received", q);
    t_chan used = t_chan_open(), go = t_chan_open();
    t_child c = t_spawn();
    if (c.pid == 0)
        other_user(q, a, b, &used, &go);
    t_chan_wait(&used);
    EXPECT_OK(mq_close(q));
    EXPECT_OK(mq_unlink(a));
    t_say("closed and unlinked");

    mqd_t same = create(a, 0600);
    mqd_t other = create(b, 0600);
    show_new("new queue of the old name", same);
    show_new("new queue of another name", other);
    t_chan_post(&go);
    t_join(&c, 0);
    receive("the old name's new queue holds", same);
    receive("the other name's queue holds", other);
    show_new("both empty again", same);
    EXPECT_OK(mq_close(same));
    EXPECT_OK(mq_close(other));
    EXPECT_OK(mq_unlink(a));
    EXPECT_OK(mq_unlink(b));
}

/* A queue unlinked while another process has it open: that process keeps it, apart from the
 * new queue of the name. */
static void open_elsewhere_round(void)
{
    t_say("-- unlinked while another process has it open");
    const char *name = t_qname("kept-open");
    mqd_t q = create(name, 0600);
    send(q, "old message", 4);
    t_chan opened = t_chan_open(), go = t_chan_open();
    t_child c = t_spawn();
    if (c.pid == 0) {
        mqd_t mine = mq_open(name, O_RDWR | O_NONBLOCK);
        T_REQUIRE(mine != (mqd_t)-1);
        t_chan_post(&opened);
        t_chan_wait(&go);
        receive("the other process's old queue holds", mine);
        struct mq_attr at;
        EXPECT_OK(mq_getattr(mine, &at));
        t_say("the other process's old queue: curmsgs %ld", at.mq_curmsgs);
        EXPECT_OK(mq_close(mine));
        exit(t_child_status());
    }
    t_chan_wait(&opened);
    EXPECT_OK(mq_close(q));
    EXPECT_OK(mq_unlink(name));
    mqd_t fresh = create(name, 0600);
    show_new("new queue of the name", fresh);
    send(fresh, "new message", 7);
    t_chan_post(&go);
    t_join(&c, 0);
    receive("the new queue holds", fresh);
    EXPECT_OK(mq_close(fresh));
    EXPECT_OK(mq_unlink(name));

    t_say("-- unlinked while open here, then closed");
    q = create(name, 0600);
    send(q, "doomed", 1);
    EXPECT_OK(mq_unlink(name));
    EXPECT_OK(mq_close(q));
    fresh = create(name, 0600);
    show_new("new queue of the name", fresh);
    EXPECT_OK(mq_close(fresh));
    EXPECT_OK(mq_unlink(name));
}

/* Another mode after a destroyed queue, and a queue that had a notification registered. */
static void mode_and_notify_round(void)
{
    t_say("-- another mode, and a registered notification");
    const char *name = t_qname("notified");
    mqd_t q = create(name, 0600);
    struct sigevent ev = { .sigev_notify = SIGEV_NONE };
    EXPECT_OK(mq_notify(q, &ev));
    EXPECT_OK(mq_close(q));
    EXPECT_OK(mq_unlink(name));
    q = create(name, 0640);
    show_new("new queue, mode 0640", q);
    EXPECT_OK(mq_notify(q, &ev));
    EXPECT_ERR(mq_notify(q, &ev), EBUSY);
    EXPECT_OK(mq_notify(q, NULL));
    EXPECT_OK(mq_close(q));
    EXPECT_OK(mq_unlink(name));
    q = create(name, 0600);
    show_new("new queue, mode 0600 again", q);
    EXPECT_OK(mq_close(q));
    EXPECT_OK(mq_unlink(name));
}

/* Parent and child create a queue each, at once, after the parent destroyed one. */
static void fork_round(void)
{
    t_say("-- parent and child create at once");
    const char *old = t_qname("before-fork");
    const char *parents = t_qname("parents");
    const char *childs = t_qname("childs");
    mqd_t q = create(old, 0600);
    EXPECT_OK(mq_close(q));
    EXPECT_OK(mq_unlink(old));
    t_chan go = t_chan_open(), made = t_chan_open(), done = t_chan_open();
    t_child c = t_spawn();
    if (c.pid == 0) {
        t_chan_wait(&go);
        mqd_t mine = create(childs, 0600);
        send(mine, "child's", 7);
        t_chan_post(&made);
        t_chan_wait(&done);
        receive("child received", mine);
        EXPECT_OK(mq_close(mine));
        EXPECT_OK(mq_unlink(childs));
        exit(t_child_status());
    }
    t_chan_post(&go);
    mqd_t mine = create(parents, 0600);
    send(mine, "parent's", 8);
    t_chan_wait(&made);
    mqd_t theirs = mq_open(childs, O_RDONLY | O_NONBLOCK);
    T_REQUIRE(theirs != (mqd_t)-1);
    struct mq_attr at;
    EXPECT_OK(mq_getattr(theirs, &at));
    t_say("child's queue: curmsgs %ld", at.mq_curmsgs);
    EXPECT_OK(mq_close(theirs));
    t_chan_post(&done);
    t_join(&c, 0);
    receive("parent received", mine);
    EXPECT_OK(mq_close(mine));
    EXPECT_OK(mq_unlink(parents));
}

int main(void)
{
    for (int round = 1; round <= 3; round++)
        round_of(round);
    open_elsewhere_round();
    mode_and_notify_round();
    fork_round();
    return t_finish();
}
