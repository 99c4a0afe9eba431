/* A removed System V queue's id made again through msg_next_id is the new queue's, in every
 * process, including those that used the old queue or removed it: on the kernel the id then
 * names the new queue. (The emulation remembers, in a process, the ids it saw removed, and
 * answers EINVAL for them without looking at what is at their index: see
 * attack_sysv_removed_id_not_revived. A write of msg_next_id must end that.)
 *
 * Round 1: root's process uses queue X, a child removes it, the process's send to X is EINVAL;
 * msg_next_id is set to X, a new private queue takes X, and the process's send to X and
 * receive from it work. Round 2: the process removes X itself and makes X again through
 * msg_next_id, of another mode (the emulation may keep the removed queue's segment at X's
 * index for this process's next queue of the same mode: it must give it up), then once more
 * of the same mode (the segment then serves the new queue). Round 3: a child removes X, the
 * process's send is EINVAL, another child makes X again through msg_next_id, and the process
 * uses X. Ids are compared, not printed.
 * (Not covered, and not as on the kernel: another process making X again while this one keeps
 * X's segment gets the next index instead; see the README.) */
#include "harness.h"
#include "mqt_sysctl.h"

static void send_receive(int id, const char *what)
{
    struct t_msg m;
    m.mtype = 1;
    memcpy(m.mtext, what, strlen(what));
    EXPECT_OK(msgsnd(id, &m, strlen(what), IPC_NOWAIT));
    long n = EXPECT_OK(msgrcv(id, &m, sizeof m.mtext, 0, IPC_NOWAIT));
    if (n >= 0)
        t_show_msg("received", m.mtext, n, (unsigned)m.mtype);
}

/* Sets msg_next_id to `id` and makes a private queue of mode `mode`: whether it took `id`. */
static void remake(int id, int mode)
{
    char text[32];
    snprintf(text, sizeof text, "%d\n", id);
    sys_write(SYS_MSG_NEXT_ID, text);
    int again = EXPECT_OK(msgget(IPC_PRIVATE, IPC_CREAT | mode));
    t_say("the new queue took the removed id: %s", again == id ? "yes" : "no");
}

int main(void)
{
    sys_private_ipc();
    int x = EXPECT_OK(msgget(IPC_PRIVATE, IPC_CREAT | 0600));
    send_receive(x, "one");

    pid_t child = t_fork();
    if (child == 0) {
        EXPECT_OK(msgctl(x, IPC_RMID, NULL));
        exit(t_child_status());
    }
    t_say("a child removed X: %d", t_reap(child));
    struct t_msg m;
    m.mtype = 1;
    EXPECT_ERR(msgsnd(x, &m, 1, IPC_NOWAIT), EINVAL);
    remake(x, 0600);
    send_receive(x, "two");

    t_say("-- removed by this process, made again by it, of another mode");
    EXPECT_OK(msgctl(x, IPC_RMID, NULL));
    EXPECT_ERR(msgsnd(x, &m, 1, IPC_NOWAIT), EINVAL);
    remake(x, 0640);
    send_receive(x, "three");

    t_say("-- and again of the same mode");
    EXPECT_OK(msgctl(x, IPC_RMID, NULL));
    remake(x, 0640);
    send_receive(x, "four");

    t_say("-- removed by a child, made again by another");
    child = t_fork();
    if (child == 0) {
        EXPECT_OK(msgctl(x, IPC_RMID, NULL));
        exit(t_child_status());
    }
    t_say("a child removed X: %d", t_reap(child));
    EXPECT_ERR(msgsnd(x, &m, 1, IPC_NOWAIT), EINVAL);
    child = t_fork();
    if (child == 0) {
        remake(x, 0600);
        exit(t_child_status());
    }
    t_say("another child made it again: %d", t_reap(child));
    send_receive(x, "five");
    EXPECT_OK(msgctl(x, IPC_RMID, NULL));
    return t_finish();
}
