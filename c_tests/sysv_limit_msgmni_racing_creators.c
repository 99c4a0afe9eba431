/* msgmni = 1 (see sysv_limit_msgmni_enospc.c for how both configurations get it): four
 * processes released at once each create a queue — two IPC_PRIVATE, two on keys of their own —
 * in a namespace with none. Exactly one succeeds and three fail with ENOSPC, every round, as
 * on the kernel, whose ipc_addid admits creators one at a time under its lock. (The emulation
 * let every creator in that found fewer than msgmni queues when it looked: with msgmni 1, two
 * racing creators both succeeded in half the rounds.) Then the count is still exact: one
 * creation succeeds, the next is ENOSPC, and after a removal one succeeds.
 * In shim-kernel mqshim holds the kernel to msgmni by reading the kernel's count before passing
 * the creation on (src/policy/enforce.rs), two system calls that racing creators passed together
 * until a user's creators took them one at a time (src/policy/admission.rs): 2 of 4 created in
 * about one round in a hundred, so 150 rounds. */
#include "harness.h"
#include "mqt_limits.h"
#include <sys/mman.h>

#define RACERS 4
#define ROUNDS 150

struct race {
    int ready;
    int go;
    int result[RACERS];     /* the id, or -errno */
};

static key_t round_key(int round, int racer)
{
    char tag[32];
    snprintf(tag, sizeof tag, "race-%d-%d", round, racer);
    uint32_t h = t_fnv1a(tag, t_fnv1a(t_runid, 2166136261u));
    return (key_t)(0x30000000u + h % 0x0fffffffu);
}

static void racer(struct race *r, int i, key_t key)
{
    /* Warm: the library's first call in a process maps the namespace. */
    struct msginfo info;
    msgctl(0, IPC_INFO, (struct msqid_ds *)&info);
    __atomic_fetch_add(&r->ready, 1, __ATOMIC_SEQ_CST);
    while (!__atomic_load_n(&r->go, __ATOMIC_SEQ_CST))
        ;
    int id = msgget(key, IPC_CREAT | IPC_EXCL | 0600);
    r->result[i] = id >= 0 ? id : -errno;
    exit(0);
}

static void body(void)
{
    struct race *r = mmap(NULL, sizeof *r, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    T_REQUIRE(r != MAP_FAILED);
    int exact = 1;
    for (int round = 0; round < ROUNDS; round++) {
        memset(r, 0, sizeof *r);
        pid_t kids[RACERS];
        for (int i = 0; i < RACERS; i++) {
            key_t key = i < 2 ? IPC_PRIVATE : round_key(round, i);
            kids[i] = t_fork();
            if (kids[i] == 0)
                racer(r, i, key);
        }
        while (__atomic_load_n(&r->ready, __ATOMIC_SEQ_CST) < RACERS)
            ;
        __atomic_store_n(&r->go, 1, __ATOMIC_SEQ_CST);
        for (int i = 0; i < RACERS; i++)
            t_reap(kids[i]);
        int created = 0, refused = 0;
        for (int i = 0; i < RACERS; i++) {
            if (r->result[i] >= 0) {
                created++;
                if (msgctl(r->result[i], IPC_RMID, NULL) != 0)
                    t_say("round %d: IPC_RMID -> -1 %s", round, t_errno_name(errno));
            } else if (r->result[i] == -ENOSPC) {
                refused++;
            } else {
                t_say("round %d: msgget -> -1 %s", round, t_errno_name(-r->result[i]));
            }
        }
        if (created != 1 || refused != 3) {
            t_say("round %d: %d created, %d refused with ENOSPC", round, created, refused);
            exact = 0;
        }
    }
    t_check("every round: 1 created, 3 refused with ENOSPC", exact);

    t_say("-- the count after the races");
    int q = (int)EXPECT_OK(msgget(IPC_PRIVATE, 0600));
    EXPECT_ERR(msgget(IPC_PRIVATE, 0600), ENOSPC);
    EXPECT_OK(msgctl(q, IPC_RMID, NULL));
    q = (int)EXPECT_OK(msgget(IPC_PRIVATE, 0600));
    EXPECT_OK(msgctl(q, IPC_RMID, NULL));
    munmap(r, sizeof *r);
}

int main(int argc, char **argv)
{
    static const struct lim_phase phases[] = { { "msgmni=1", body, LIM_UNPRIVILEGED } };
    return lim_main(argc, argv, phases, 1);
}
