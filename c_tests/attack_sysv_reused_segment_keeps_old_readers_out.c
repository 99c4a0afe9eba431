/* A user let into a System V queue for a while cannot read root's later queues through what it
 * mapped then. Root makes a private queue of mode 0600 and widens it to 0666 with IPC_SET; nobody
 * then maps, read-only, every regular file of the namespace it can open (on the kernel there is
 * none) and keeps the mappings. Root narrows the queue back to 0600 and removes it, then makes a
 * private and a keyed queue of mode 0600 and sends each a secret message. Nobody searches its
 * mappings for the secrets: "nobody finds root's later messages: no", as on the kernel. (Under
 * the emulation a removed queue's segment may serve its creator's next queue of the same mode:
 * never one whose mode was ever changed, which another user may still map.) Nobody's own
 * msgrcv on root's new queues is EACCES, as on the kernel. */
#include "harness.h"
#include "mqt_attack.h"

static char secret[64];

/* Nobody: maps what it can when told, then, when told again, searches the mappings and tries
 * root's new queues itself (their ids come through `ids`). */
static void attacker(t_chan *go, t_chan *done, int ids_fd)
{
    attack_become_nobody();
    attack_map_then_search(go, done, secret);
    int ids[2];
    T_REQUIRE(read(ids_fd, ids, sizeof ids) == (ssize_t)sizeof ids);
    struct t_msg m;
    /* Not through EXPECT_*: nobody's calls are not traced (it may not write root's trace). */
    for (int i = 0; i < 2; i++) {
        errno = 0;
        long r = msgrcv(ids[i], &m, sizeof m.mtext, 0, IPC_NOWAIT);
        t_check(i ? "nobody: msgrcv(root's new keyed queue) is EACCES"
                  : "nobody: msgrcv(root's new private queue) is EACCES",
                r == -1 && errno == EACCES);
    }
    exit(t_child_status());
}

static void set_mode(int id, int mode)
{
    struct msqid_ds ds;
    T_REQUIRE(msgctl(id, IPC_STAT, &ds) == 0);
    ds.msg_perm.mode = mode;
    EXPECT_OK(msgctl(id, IPC_SET, &ds));
}

int main(int argc, char **argv)
{
    (void)argc;
    attack_namespace_setup(argv);
    umask(0);
    snprintf(secret, sizeof secret, "mqt-secret-%d-%ld", (int)getpid(), (long)time(NULL));
    int ids[2];
    int ids_pipe[2];
    t_pipe_cloexec(ids_pipe);
    int old = msgget(IPC_PRIVATE, 0600);
    T_REQUIRE(old >= 0);
    /* Forked after root's first call, so that nobody inherits the trace's descriptor. */
    t_chan go = t_chan_open(), done = t_chan_open();
    t_child c = t_spawn();
    if (c.pid == 0)
        attacker(&go, &done, ids_pipe[0]);
    set_mode(old, 0666);
    t_say("root: a private queue, 0600, widened to 0666");
    t_chan_post(&go);
    t_chan_wait(&done);
    t_say("-- nobody mapped what it could of the namespace");
    set_mode(old, 0600);
    EXPECT_OK(msgctl(old, IPC_RMID, NULL));
    t_say("root: narrowed back to 0600 and removed");

    key_t key;
    ids[0] = msgget(IPC_PRIVATE, 0600);
    ids[1] = t_msgget_new("later", 0600, &key);
    T_REQUIRE(ids[0] >= 0 && ids[1] >= 0);
    struct t_msg m;
    m.mtype = 1;
    memcpy(m.mtext, secret, strlen(secret));
    EXPECT_OK(msgsnd(ids[0], &m, strlen(secret), IPC_NOWAIT));
    EXPECT_OK(msgsnd(ids[1], &m, strlen(secret), IPC_NOWAIT));
    t_say("root: a new private and a new keyed queue, 0600, a secret message in each");
    T_REQUIRE(write(ids_pipe[1], ids, sizeof ids) == (ssize_t)sizeof ids);
    t_chan_post(&go);
    t_join(&c, 0);
    EXPECT_OK(msgctl(ids[0], IPC_RMID, NULL));
    EXPECT_OK(msgctl(ids[1], IPC_RMID, NULL));
    return t_finish();
}
