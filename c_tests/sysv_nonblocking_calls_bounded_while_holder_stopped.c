/* A process stopped (SIGSTOP) at any moment of a call — for the emulation, possibly while it
 * holds a queue's lock — never makes another process's calls that do not sleep in the kernel
 * wait: msgsnd and msgrcv with IPC_NOWAIT, msgctl IPC_STAT and IPC_SET, msgget of an existing
 * key. On the kernel a stopped process holds no lock. A busy child is stopped many times at
 * pseudo-random moments; every call made while it is stopped must end within the bound.
 * Results vary with the moment (EAGAIN, ENOMSG, a message) and are not printed: only that
 * the time was within the bound. */
#include <sched.h>
#include <sys/mman.h>
#include <time.h>

#include "harness.h"

#define ROUNDS 150
/* Generous: the emulation's bound is 20 ms per lock; this only has to tell a bound from a hang. */
#define LIMIT_NS 250000000LL

struct shared {
    volatile int stop;
    volatile unsigned long iterations;
};

struct msg {
    long mtype;
    char text[16];
};

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static unsigned long long rng_state = 0x9e3779b97f4a7c15ULL;
static unsigned long long rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void wait_stopped(pid_t pid)
{
    while (t_proc_state(pid) != 'T')
        sched_yield();
}

static int late(long long start)
{
    return now_ns() - start > LIMIT_NS;
}

int main(void)
{
    key_t key;
    int id = t_msgget_new("stopheld", 0600, &key);
    struct msqid_ds ds;
    T_REQUIRE(msgctl(id, IPC_STAT, &ds) == 0);
    /* Room for a few messages only, so that sends also meet a full queue. */
    ds.msg_qbytes = 64;
    T_REQUIRE(msgctl(id, IPC_SET, &ds) == 0);
    struct shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    T_REQUIRE(sh != MAP_FAILED);

    t_child c = t_spawn();
    if (c.pid == 0) {
        struct msg m = { 1, "busy" };
        /* Sends of several types and receives of one type or any, so that the lock-free ring
         * and the locked queue both serve it. */
        for (unsigned i = 0; !sh->stop; i++) {
            m.mtype = 1 + i % 3;
            msgsnd(id, &m, 4, IPC_NOWAIT);
            if (i % 2)
                msgrcv(id, &m, sizeof m.text, i % 4 == 1 ? 2 : 0, IPC_NOWAIT);
            sh->iterations++;
        }
        exit(t_child_status());
    }

    int over = 0;
    struct msg m = { 1, "mine" };
    for (int round = 0; round < ROUNDS; round++) {
        /* Let the child run some calls, then stop it at a pseudo-random moment. */
        unsigned long seen = sh->iterations;
        unsigned long more = 1 + rng() % 50;
        while (sh->iterations - seen < more)
            sched_yield();
        T_REQUIRE(kill(c.pid, SIGSTOP) == 0);
        wait_stopped(c.pid);

        long long t = now_ns();
        m.mtype = 1 + (long)(rng() % 3);
        msgsnd(id, &m, 4, IPC_NOWAIT);
        over += late(t);
        t = now_ns();
        msgrcv(id, &m, sizeof m.text, (long)(rng() % 3), IPC_NOWAIT);
        over += late(t);
        t = now_ns();
        struct msqid_ds now;
        msgctl(id, IPC_STAT, &now);
        over += late(t);
        t = now_ns();
        msgctl(id, IPC_SET, &ds);
        over += late(t);
        t = now_ns();
        msgget(key, 0600);
        over += late(t);

        T_REQUIRE(kill(c.pid, SIGCONT) == 0);
    }
    sh->stop = 1;
    t_join(&c, 0);
    t_check("within bound", over == 0);
    if (over)
        t_say("calls over the bound: %d", over);

    EXPECT_EQ(msgctl(id, IPC_RMID, NULL), 0);
    return t_finish();
}
