/* mqt: static */
/* A queue created after its creator removed another is a new queue in everything a caller can
 * see, whatever the emulation reuses of the old one (a spare segment: see the README): empty,
 * its statistics zero, its mode and key its own. The removed id stays EINVAL for every call, in
 * the remover and in another process that used the old queue before (and may still map it), and
 * that process then uses the new queue as anyone would. After a fork, parent and child each
 * create a queue of their own at once (the parent holds a spare the child inherited a view
 * of). Three rounds. */
#include "harness.h"

/* What a caller sees of a queue just created: printed without ids, pids or times. */
static void show_new(const char *what, int id)
{
    struct msqid_ds ds;
    EXPECT_OK(msgctl(id, IPC_STAT, &ds));
    t_say("%s: mode %o qnum %lu cbytes %lu lspid %s lrpid %s stime %s rtime %s ctime %s", what,
          ds.msg_perm.mode & 0777, (unsigned long)ds.msg_qnum, (unsigned long)ds.__msg_cbytes,
          ds.msg_lspid ? "set" : "0", ds.msg_lrpid ? "set" : "0", ds.msg_stime ? "set" : "0",
          ds.msg_rtime ? "set" : "0", ds.msg_ctime ? "set" : "0");
    struct t_msg m;
    EXPECT_ERR(msgrcv(id, &m, sizeof m.mtext, 0, IPC_NOWAIT), ENOMSG);
}

static void send(int id, long mtype, const char *text)
{
    struct t_msg m = { .mtype = mtype };
    memcpy(m.mtext, text, strlen(text));
    EXPECT_OK(msgsnd(id, &m, strlen(text), IPC_NOWAIT));
}

/* Another process that used queue `old` before its removal: told the new ids through `ids`. */
static void other_user(int old, t_chan *used, int ids_fd)
{
    send(old, 3, "before");
    t_chan_post(used);
    int ids[2];
    T_REQUIRE(read(ids_fd, ids, sizeof ids) == (ssize_t)sizeof ids);
    struct t_msg m = { .mtype = 4 };
    struct msqid_ds ds;
    EXPECT_ERR(msgsnd(old, &m, 1, IPC_NOWAIT), EINVAL);
    EXPECT_ERR(msgrcv(old, &m, sizeof m.mtext, 0, IPC_NOWAIT), EINVAL);
    EXPECT_ERR(msgctl(old, IPC_STAT, &ds), EINVAL);
    EXPECT_ERR(msgrcv(ids[0], &m, sizeof m.mtext, 0, IPC_NOWAIT), ENOMSG);
    send(ids[0], 5, "from the other");
    send(ids[1], 6, "keyed");
    exit(t_child_status());
}

static void round_of(int round)
{
    t_say("-- round %d", round);
    int old = msgget(IPC_PRIVATE, 0600);
    T_REQUIRE(old >= 0);
    send(old, 1, "a");
    send(old, 2, "bb");
    struct t_msg m;
    EXPECT_EQ(msgrcv(old, &m, sizeof m.mtext, 0, IPC_NOWAIT), 1);
    int ids_pipe[2];
    t_pipe_cloexec(ids_pipe);
    t_chan used = t_chan_open();
    t_child c = t_spawn();
    if (c.pid == 0)
        other_user(old, &used, ids_pipe[0]);
    t_chan_wait(&used);
    EXPECT_OK(msgctl(old, IPC_RMID, NULL));

    int ids[2];
    ids[0] = (int)EXPECT_OK(msgget(IPC_PRIVATE, 0600));
    char tag[32];
    snprintf(tag, sizeof tag, "round%d", round);
    ids[1] = t_msgget_new(tag, 0640, NULL);
    T_REQUIRE(ids[0] >= 0 && ids[1] >= 0);
    show_new("new private queue", ids[0]);
    show_new("new keyed queue", ids[1]);
    t_check("the new ids are not the removed one", ids[0] != old && ids[1] != old);
    struct msqid_ds ds;
    EXPECT_ERR(msgsnd(old, &m, 1, IPC_NOWAIT), EINVAL);
    EXPECT_ERR(msgrcv(old, &m, sizeof m.mtext, 0, IPC_NOWAIT), EINVAL);
    EXPECT_ERR(msgctl(old, IPC_STAT, &ds), EINVAL);
    EXPECT_ERR(msgctl(old, IPC_RMID, NULL), EINVAL);

    T_REQUIRE(write(ids_pipe[1], ids, sizeof ids) == (ssize_t)sizeof ids);
    t_join(&c, 0);
    close(ids_pipe[0]);
    close(ids_pipe[1]);
    EXPECT_EQ(msgrcv(ids[0], &m, sizeof m.mtext, 0, IPC_NOWAIT), 14);
    t_say("received type %ld", m.mtype);
    EXPECT_EQ(msgrcv(ids[1], &m, sizeof m.mtext, 0, IPC_NOWAIT), 5);
    EXPECT_OK(msgctl(ids[0], IPC_STAT, &ds));
    t_say("new private queue: qnum %lu lspid %s lrpid %s", (unsigned long)ds.msg_qnum,
          ds.msg_lspid ? "set" : "0", ds.msg_lrpid ? "set" : "0");
    EXPECT_OK(msgctl(ids[0], IPC_RMID, NULL));
    EXPECT_OK(msgctl(ids[1], IPC_RMID, NULL));
}

/* Parent and child create a queue each, at once, after the parent removed one. */
static void fork_round(void)
{
    t_say("-- parent and child create at once");
    int old = (int)EXPECT_OK(msgget(IPC_PRIVATE, 0600));
    EXPECT_OK(msgctl(old, IPC_RMID, NULL));
    int ids_pipe[2];
    t_pipe_cloexec(ids_pipe);
    t_chan go = t_chan_open(), made = t_chan_open(), done = t_chan_open();
    t_child c = t_spawn();
    if (c.pid == 0) {
        t_chan_wait(&go);
        int mine = (int)EXPECT_OK(msgget(IPC_PRIVATE, 0600));
        send(mine, 7, "child's");
        T_REQUIRE(write(ids_pipe[1], &mine, sizeof mine) == (ssize_t)sizeof mine);
        t_chan_post(&made);
        t_chan_wait(&done);
        struct t_msg m;
        EXPECT_EQ(msgrcv(mine, &m, sizeof m.mtext, 0, IPC_NOWAIT), 7);
        t_say("child received type %ld", m.mtype);
        EXPECT_OK(msgctl(mine, IPC_RMID, NULL));
        exit(t_child_status());
    }
    t_chan_post(&go);
    int mine = (int)EXPECT_OK(msgget(IPC_PRIVATE, 0600));
    send(mine, 8, "parent's");
    t_chan_wait(&made);
    int childs;
    T_REQUIRE(read(ids_pipe[0], &childs, sizeof childs) == (ssize_t)sizeof childs);
    t_check("parent's and child's queues are two", childs != mine);
    struct msqid_ds ds;
    EXPECT_OK(msgctl(childs, IPC_STAT, &ds));
    t_say("child's queue: qnum %lu", (unsigned long)ds.msg_qnum);
    t_chan_post(&done);
    t_join(&c, 0);
    struct t_msg m;
    EXPECT_EQ(msgrcv(mine, &m, sizeof m.mtext, 0, IPC_NOWAIT), 8);
    t_say("parent received type %ld", m.mtype);
    EXPECT_ERR(msgctl(childs, IPC_STAT, &ds), EINVAL);
    EXPECT_OK(msgctl(mine, IPC_RMID, NULL));
}

int main(void)
{
    for (int round = 1; round <= 3; round++)
        round_of(round);
    fork_round();
    return t_finish();
}
