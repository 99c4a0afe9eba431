/* mqt: static */
/* A send that finds receivers blocked in msgrcv gives the message to the first (in blocking
 * order) whose criteria it matches and that can take it (the kernel's pipelined send: the
 * message never enters the queue). A matching receiver whose buffer is too small, without
 * MSG_NOERROR, is woken with E2BIG on the way and the message goes on — to the next blocked
 * receiver, or, when there is none, into the queue. With MSG_NOERROR a small buffer takes the
 * message truncated. */
#include "harness.h"

static t_chan ready;

/* A child that blocks in msgrcv(msgtyp, msgsz, flags) and prints what it got. */
static t_child receiver(int id, long msgtyp, size_t msgsz, int flags, int want_errno)
{
    t_child c = t_spawn();
    if (c.pid == 0) {
        struct t_msg r;
        memset(&r, 0, sizeof r);
        msgrcv(id, &r, sizeof r.mtext, 999, IPC_NOWAIT);   /* warm up (ENOMSG) */
        t_chan_post(&ready);
        long n = msgrcv(id, &r, msgsz, msgtyp, flags);
        if (want_errno) {
            t_say("msgrcv(msgsz %zu) -> %ld %s", msgsz, n, n < 0 ? t_errno_name(errno) : "");
            if (!(n == -1 && errno == want_errno)) {
                t_failures++;
                t_say("  !! MISMATCH: expected %s", t_errno_name(want_errno));
            }
        } else if (n < 0) {
            t_say("msgrcv(msgsz %zu) -> -1 %s  !! MISMATCH", msgsz, t_errno_name(errno));
            t_failures++;
        } else {
            t_show_typed("received", r.mtext, n, r.mtype);
        }
        exit(t_child_status());
    }
    t_chan_wait(&ready);
    t_wait_blocked(c.pid);
    return c;
}

static void send_text(int id, long type, const char *text)
{
    struct t_msg m = { .mtype = type };
    memcpy(m.mtext, text, strlen(text));
    int r = msgsnd(id, &m, strlen(text), 0);
    t_say("send \"%s\" type %ld -> %d", text, type, r);
}

static void show_queue(int id)
{
    struct msqid_ds ds;
    T_REQUIRE(msgctl(id, IPC_STAT, &ds) == 0);
    t_say("queue: qnum %lu cbytes %lu, last receiver %s", (unsigned long)ds.msg_qnum,
          (unsigned long)ds.__msg_cbytes,
          ds.msg_lrpid == 0 ? "none" : ds.msg_lrpid == getpid() ? "the parent" : "a child");
}

int main(void)
{
    int id = t_msgget_new("handoff", 0600, NULL);
    ready = t_chan_open();

    t_say("-- a small buffer, then a large one, both blocked for any type");
    t_child a = receiver(id, 0, 2, 0, E2BIG);
    t_child b = receiver(id, 0, 100, 0, 0);
    send_text(id, 4, "hello");
    t_join(&a, 0);
    t_join(&b, 0);
    show_queue(id);

    t_say("-- only a small buffer blocked: E2BIG, and the message is queued");
    t_child c = receiver(id, 0, 2, 0, E2BIG);
    send_text(id, 4, "world");
    t_join(&c, 0);
    show_queue(id);
    struct t_msg r;
    long n = EXPECT_EQ(msgrcv(id, &r, sizeof r.mtext, 0, IPC_NOWAIT), 5);
    t_show_typed("parent received", r.mtext, n, r.mtype);

    t_say("-- a small buffer with MSG_NOERROR takes the message truncated");
    t_child d = receiver(id, 0, 2, MSG_NOERROR, 0);
    send_text(id, 4, "abcdef");
    t_join(&d, 0);
    show_queue(id);

    t_say("-- a receiver whose type does not match is passed over");
    t_child e = receiver(id, 9, 100, 0, 0);
    t_child f = receiver(id, -5, 2, 0, E2BIG);
    t_child g = receiver(id, 5, 100, 0, 0);
    send_text(id, 5, "for five");
    send_text(id, 9, "for nine");
    t_join(&e, 0);
    t_join(&f, 0);
    t_join(&g, 0);
    show_queue(id);

    t_say("-- two receivers for any type are served in the order they blocked");
    t_child h = receiver(id, 0, 100, 0, 0);
    t_child i = receiver(id, 0, 100, 0, 0);
    send_text(id, 1, "one");
    send_text(id, 1, "two");
    t_join(&h, 0);
    t_join(&i, 0);
    show_queue(id);

    EXPECT_EQ(msgctl(id, IPC_RMID, NULL), 0);
    return t_finish();
}
