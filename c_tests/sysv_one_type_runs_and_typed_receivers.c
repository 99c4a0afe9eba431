/* mqt: static */
/* A queue that streams messages of one type, read by receivers of that type, of other types,
 * with MSG_EXCEPT and with msgtyp < 0, then a second type behind the first, MSG_COPY and a
 * drain: every answer, and msg_qnum, msg_cbytes, msg_lspid and msg_lrpid after every call, as
 * the kernel gives them. (Under the emulation this walks the express ring's one-type answers,
 * its folds into the general structure and its return to the ring, non-empty.) */
#include "harness.h"

#ifndef MSG_COPY
#define MSG_COPY 040000
#endif

static int id;

static void stat_line(void)
{
    struct msqid_ds ds;
    if (msgctl(id, IPC_STAT, &ds) != 0) {
        t_say("  IPC_STAT -> -1 %s", t_errno_name(errno));
        t_check("  IPC_STAT works", 0);
        return;
    }
    pid_t me = getpid();
    t_say("  qnum %lu cbytes %lu lspid %s lrpid %s", (unsigned long)ds.msg_qnum, (unsigned long)ds.__msg_cbytes,
          ds.msg_lspid == 0 ? "0" : ds.msg_lspid == me ? "self" : "other",
          ds.msg_lrpid == 0 ? "0" : ds.msg_lrpid == me ? "self" : "other");
}

static void send_typed(const char *text, long type)
{
    struct t_msg m = { .mtype = type };
    size_t len = strlen(text);
    memcpy(m.mtext, text, len);
    int r = msgsnd(id, &m, len, IPC_NOWAIT);
    t_say("send %s type %ld -> %s", text, type, r == 0 ? "0" : t_errno_name(errno));
    stat_line();
}

static void take(long msgtyp, int flags, const char *how)
{
    struct t_msg r;
    memset(&r, 0, sizeof r);
    long n = msgrcv(id, &r, sizeof r.mtext, msgtyp, flags | IPC_NOWAIT);
    if (n < 0)
        t_say("msgtyp %ld%s -> -1 %s", msgtyp, how, t_errno_name(errno));
    else
        t_say("msgtyp %ld%s -> \"%.*s\" type %ld", msgtyp, how, (int)n, r.mtext, r.mtype);
    stat_line();
}

int main(void)
{
    id = t_msgget_new("onetype", 0600, NULL);
    stat_line();

    /* A run of type 5. */
    send_typed("a5", 5);
    send_typed("bb5", 5);
    send_typed("ccc5", 5);
    take(2, 0, "");                       /* nothing of type 2 */
    take(5, MSG_EXCEPT, " MSG_EXCEPT");   /* nothing but type 5 */
    take(-4, 0, "");                      /* nothing at or below 4 */
    take(-5, 0, "");                      /* a5 */
    take(5, 0, "");                       /* bb5 */

    /* A second type behind the first: found behind the head. */
    send_typed("d3", 3);
    send_typed("ee5", 5);
    take(3, 0, "");                       /* d3, behind ccc5 */
    take(-9, 0, "");                      /* ccc5: the lowest type left is 5 */

    /* One type again, with messages queued: MSG_COPY reads without taking. */
    send_typed("f5", 5);
    take(1, MSG_COPY, " MSG_COPY");       /* the second message: f5 */
    take(7, MSG_EXCEPT, " MSG_EXCEPT");   /* ee5 */
    take(5, MSG_EXCEPT, " MSG_EXCEPT");   /* none of another type */
    send_typed("", 5);                    /* zero-length */
    take(0, 0, "");                       /* f5 */
    take(0, 0, "");                       /* the empty one */
    take(0, 0, "");                       /* ENOMSG */

    EXPECT_EQ(msgctl(id, IPC_RMID, NULL), 0);
    return t_finish();
}
