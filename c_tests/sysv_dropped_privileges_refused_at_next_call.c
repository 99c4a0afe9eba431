/* mqt: static */
/* A process that changes its credentials is judged by its new ones at its very next System V
 * call, with no msgget in between, in every thread, as the kernel's ipcperms() judges each call
 * by the calling thread's credentials of the moment. Root makes a 0600 queue and uses it from
 * the main thread and from a worker thread; then:
 * - seteuid(nobody) (glibc changes every thread): the main thread's send, receive and
 *   IPC_STAT are refused (EACCES) and so is its IPC_RMID (EPERM), and so is the worker's send;
 *   seteuid(0) gives them back;
 * - the same change made with a raw syscall(SYS_setresuid) changes only the calling thread:
 *   made by the main thread, the main thread is refused and the worker still sends; made by
 *   the worker, the worker is refused and the main thread still passes;
 * - setresuid(nobody, nobody, root) and back;
 * - on nobody's queue of group root, mode 0060, with CAP_IPC_OWNER dropped by a raw capset:
 *   setegid(1) refuses the next send, setgroups({root}) allows it, setgroups({}) refuses it,
 *   the capability raised again allows it.
 * Before mqshim noticed credential changes, its per-thread copy of root's credentials let every
 * call after the drop through until the thread's next msgget. */
#include "harness.h"
#include <grp.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/syscall.h>

/* capget/capset's structures (linux/capability.h, which musl's headers lack). */
struct cap_header { uint32_t version; int pid; };
struct cap_data { uint32_t effective, permitted, inheritable; };
#define CAP_VERSION_3 0x20080522
#define CAP_IPC_OWNER_BIT 15
/* A group that is neither the queue's (root) nor its creator's (nobody). */
#define OTHER_GROUP 1

static int queue;
static int to_worker[2], from_worker[2];

/* The worker: for each byte it reads, sends one message ('s'), or changes its own effective
 * uid alone with a raw setresuid, to nobody ('d') or back to root ('r'); reports each result. */
static void *worker(void *arg)
{
    (void)arg;
    char cmd;
    while (read(to_worker[0], &cmd, 1) == 1 && cmd != 'q') {
        struct t_msg m = { .mtype = 1 };
        m.mtext[0] = 'w';
        long rc = cmd == 's' ? msgsnd(queue, &m, 1, IPC_NOWAIT) : syscall(SYS_setresuid, -1, cmd == 'd' ? T_NOBODY : 0, -1);
        int answer = rc == 0 ? 0 : errno;
        T_REQUIRE(write(from_worker[1], &answer, sizeof answer) == sizeof answer);
    }
    return NULL;
}

/* Has the worker do `cmd` once; prints its result as `what`. */
static void worker_does(char cmd, const char *what)
{
    int answer;
    T_REQUIRE(write(to_worker[1], &cmd, 1) == 1);
    T_REQUIRE(read(from_worker[0], &answer, sizeof answer) == sizeof answer);
    printf("%s -> %s\n", what, answer == 0 ? "ok" : t_errno_name(answer));
}

/* Has the worker send once; prints its result. */
static void worker_sends(const char *when)
{
    char what[128];
    snprintf(what, sizeof what, "the worker's msgsnd %s", when);
    worker_does('s', what);
}

/* The main thread's calls: each either passes or is refused, as `allowed` says. */
static void main_calls(int allowed)
{
    struct t_msg m = { .mtype = 1 }, got;
    struct msqid_ds ds;
    m.mtext[0] = 'm';
    if (allowed) {
        EXPECT_OK(msgsnd(queue, &m, 1, IPC_NOWAIT));
        EXPECT_EQ(msgrcv(queue, &got, sizeof got.mtext, 0, IPC_NOWAIT), 1);
        EXPECT_OK(msgctl(queue, IPC_STAT, &ds));
    } else {
        EXPECT_ERR(msgsnd(queue, &m, 1, IPC_NOWAIT), EACCES);
        EXPECT_ERR(msgrcv(queue, &got, sizeof got.mtext, 0, IPC_NOWAIT), EACCES);
        EXPECT_ERR(msgctl(queue, IPC_STAT, &ds), EACCES);
        EXPECT_ERR(msgctl(queue, IPC_RMID, NULL), EPERM);
    }
}

/* A send to `q`, its result printed. */
static void group_send(int q, const char *when)
{
    struct t_msg m = { .mtype = 1 };
    errno = 0;
    int rc = msgsnd(q, &m, 1, IPC_NOWAIT);
    printf("msgsnd %s -> %s\n", when, rc == 0 ? "ok" : t_errno_name(errno));
}

/* Empties the queue (as root). */
static void drain(void)
{
    struct t_msg got;
    while (msgrcv(queue, &got, sizeof got.mtext, 0, IPC_NOWAIT) >= 0)
        ;
}

int main(void)
{
    key_t key;
    queue = t_msgget_new("dropped", 0600, &key);
    T_REQUIRE(pipe(to_worker) == 0 && pipe(from_worker) == 0);
    pthread_t w;
    T_REQUIRE(pthread_create(&w, NULL, worker, NULL) == 0);

    t_say("-- root, both threads");
    main_calls(1);
    worker_sends("as root");
    drain();

    t_say("-- seteuid(nobody): every thread");
    EXPECT_OK(seteuid(T_NOBODY));
    main_calls(0);
    worker_sends("after seteuid(nobody)");
    EXPECT_OK(seteuid(0));
    main_calls(1);
    worker_sends("after seteuid(0)");
    drain();

    t_say("-- a raw setresuid: the calling thread only");
    EXPECT_OK(syscall(SYS_setresuid, -1, T_NOBODY, -1));
    main_calls(0);
    worker_sends("while the main thread alone is nobody");
    EXPECT_OK(syscall(SYS_setresuid, -1, 0, -1));
    main_calls(1);
    drain();
    worker_does('d', "the worker's own raw setresuid(-1, nobody, -1)");
    worker_sends("once it alone is nobody");
    main_calls(1);
    worker_does('r', "the worker's own raw setresuid(-1, root, -1)");
    worker_sends("once it is root again");
    drain();

    t_say("-- setresuid(nobody, nobody, root), then back");
    EXPECT_OK(setresuid(T_NOBODY, T_NOBODY, 0));
    main_calls(0);
    EXPECT_OK(setresuid(0, 0, 0));
    main_calls(1);

    t_say("-- nobody's queue, group root, mode 0060; root without CAP_IPC_OWNER (a raw capset)");
    int key_pipe[2];
    T_REQUIRE(pipe(key_pipe) == 0);
    t_child c = t_spawn();
    if (c.pid == 0) {
        key_t made;
        t_become_nobody(0);
        t_msgget_new("dropped-group", 0060, &made);
        T_REQUIRE(write(key_pipe[1], &made, sizeof made) == sizeof made);
        exit(t_child_status());
    }
    t_join(&c, 0);
    key_t group_key;
    T_REQUIRE(read(key_pipe[0], &group_key, sizeof group_key) == sizeof group_key);
    close(key_pipe[0]);
    close(key_pipe[1]);
    struct msqid_ds ds;
    int grouped = msgget(group_key, 0);
    T_REQUIRE(grouped >= 0);
    EXPECT_OK(msgctl(grouped, IPC_STAT, &ds));
    ds.msg_perm.gid = 0;
    EXPECT_OK(msgctl(grouped, IPC_SET, &ds));
    struct cap_header caph = { CAP_VERSION_3, 0 };
    struct cap_data caps[2];
    T_REQUIRE(syscall(SYS_capget, &caph, caps) == 0);
    caps[0].effective &= ~(1u << CAP_IPC_OWNER_BIT);
    EXPECT_OK(syscall(SYS_capset, &caph, caps));
    EXPECT_OK(setgroups(0, NULL));
    group_send(grouped, "as group root");
    EXPECT_OK(setegid(OTHER_GROUP));
    group_send(grouped, "after setegid(1)");
    gid_t root_group = 0;
    EXPECT_OK(setgroups(1, &root_group));
    group_send(grouped, "after setgroups(root)");
    EXPECT_OK(setgroups(0, NULL));
    group_send(grouped, "after setgroups() (none)");
    caps[0].effective |= 1u << CAP_IPC_OWNER_BIT;
    EXPECT_OK(syscall(SYS_capset, &caph, caps));
    group_send(grouped, "with CAP_IPC_OWNER back");
    EXPECT_OK(setegid(0));

    T_REQUIRE(write(to_worker[1], "q", 1) == 1);
    T_REQUIRE(pthread_join(w, NULL) == 0);
    EXPECT_OK(msgctl(grouped, IPC_RMID, NULL));
    EXPECT_OK(msgctl(queue, IPC_RMID, NULL));
    return t_finish();
}
