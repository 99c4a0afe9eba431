/* mqt: static */
/* msgrcv with MSG_COPY (Linux, CONFIG_CHECKPOINT_RESTORE): msgtyp is a 0-based position in the
 * queue, whatever the types; the message is copied and stays, and no statistic changes (qnum,
 * lrpid, rtime). It requires IPC_NOWAIT and excludes MSG_EXCEPT (EINVAL, before the id is even
 * looked up); a position past the end, or a negative one, is ENOMSG; a buffer smaller than the
 * message is E2BIG without MSG_NOERROR and EINVAL with it (the copy needs the whole message). */
#include "harness.h"

#ifndef MSG_COPY
#define MSG_COPY 040000
#endif

static void send_text(int id, long type, const char *text)
{
    struct t_msg m = { .mtype = type };
    memcpy(m.mtext, text, strlen(text));
    T_REQUIRE(msgsnd(id, &m, strlen(text), 0) == 0);
}

static void copy_at(int id, long pos, size_t msgsz, int flags, int want_errno)
{
    struct t_msg r;
    memset(&r, 0, sizeof r);
    errno = 0;
    long n = msgrcv(id, &r, msgsz, pos, MSG_COPY | IPC_NOWAIT | flags);
    int e = errno;
    if (n < 0) {
        t_say("copy position %ld (msgsz %zu%s) -> -1 %s", pos, msgsz,
              flags & MSG_NOERROR ? ", MSG_NOERROR" : "", t_errno_name(e));
        if (e != want_errno) {
            t_failures++;
            t_say("  !! MISMATCH: expected %s", want_errno ? t_errno_name(want_errno) : "a message");
        }
        return;
    }
    printf("copy position %ld -> ", pos);
    t_show_typed("", r.mtext, n, r.mtype);
    if (want_errno) {
        t_failures++;
        t_say("  !! MISMATCH: expected %s", t_errno_name(want_errno));
    }
}

static void show_queue(int id)
{
    struct msqid_ds ds;
    T_REQUIRE(msgctl(id, IPC_STAT, &ds) == 0);
    t_say("queue: qnum %lu cbytes %lu lrpid %s rtime %s", (unsigned long)ds.msg_qnum,
          (unsigned long)ds.__msg_cbytes, ds.msg_lrpid ? "set" : "0", ds.msg_rtime ? "set" : "0");
}

int main(void)
{
    int id = t_msgget_new("msgcopy", 0600, NULL);
    struct t_msg r;

    t_say("-- on an empty queue");
    copy_at(id, 0, sizeof r.mtext, 0, ENOMSG);

    send_text(id, 5, "first");
    send_text(id, 3, "second");
    send_text(id, 5, "third!");
    show_queue(id);

    t_say("-- positions, whatever the types");
    copy_at(id, 0, sizeof r.mtext, 0, 0);
    copy_at(id, 1, sizeof r.mtext, 0, 0);
    copy_at(id, 2, sizeof r.mtext, 0, 0);
    copy_at(id, 3, sizeof r.mtext, 0, ENOMSG);
    copy_at(id, -1, sizeof r.mtext, 0, ENOMSG);
    copy_at(id, 1, sizeof r.mtext, MSG_NOERROR, 0);
    show_queue(id);

    t_say("-- flags");
    EXPECT_ERR(msgrcv(id, &r, sizeof r.mtext, 0, MSG_COPY), EINVAL);
    EXPECT_ERR(msgrcv(id, &r, sizeof r.mtext, 0, MSG_COPY | IPC_NOWAIT | MSG_EXCEPT), EINVAL);
    EXPECT_ERR(msgrcv(id + 1000000, &r, sizeof r.mtext, 0, MSG_COPY), EINVAL);

    t_say("-- a buffer smaller than the message");
    copy_at(id, 1, 3, 0, E2BIG);
    copy_at(id, 1, 3, MSG_NOERROR, EINVAL);
    copy_at(id, 1, 6, 0, 0);
    show_queue(id);

    t_say("-- a real receive takes the first; position 0 is now the second");
    long n = EXPECT_EQ(msgrcv(id, &r, sizeof r.mtext, 0, IPC_NOWAIT), 5);
    t_show_typed("received", r.mtext, n, r.mtype);
    copy_at(id, 0, sizeof r.mtext, 0, 0);
    copy_at(id, 2, sizeof r.mtext, 0, ENOMSG);
    show_queue(id);

    EXPECT_EQ(msgctl(id, IPC_RMID, NULL), 0);
    return t_finish();
}
