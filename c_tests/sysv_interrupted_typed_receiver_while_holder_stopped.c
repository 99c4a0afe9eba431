/* A msgrcv of a type nobody sends, on a queue that holds messages of other types, fails with
 * EINTR when a signal handler runs while it waits, as on the kernel, where the handler's
 * signal is pending when the call sleeps — also when, under mqshim, the call was still waiting
 * for the queue's lock, held by a process stopped (SIGSTOP) inside a call on the same queue:
 * the call then looks at the queue once the holder goes on, finds nothing of its type, and
 * fails with EINTR rather than going to sleep as if no handler had run.
 * Each round stops a busy child (sends and receives of type 2) at a pseudo-random moment,
 * starts a receiver of type 9 (the queue always holds a message of type 1), and once it sleeps
 * signals it every 5 ms, ten times or until it answers (under mqshim a handler that runs in
 * the few microseconds the call spends between two sleeps, in the library's own code, runs as
 * if just before the call, and interrupts nothing); then, its last handler dispatched, it
 * continues the busy child and waits up to a second for the receiver's answer, signalling no
 * more (a signal now would interrupt the sleep the first ones should have prevented).
 * Shown failing on the code before (c5655cc, emulate): in the rounds where the busy child was
 * stopped holding the lock the receiver needed, it never answered ("every interrupted receiver
 * answered EINTR: no (first: no answer)"). */
#include "harness.h"
#include "mqt_fault.h"

#define ROUNDS 60
#define ANSWER_MS 1000
#define SIGNALS 10
#define SIGNAL_EVERY_MS 5
#define OTHER_TYPE 1
#define BUSY_TYPE 2
#define RECEIVER_TYPE 9

struct msg {
    long mtype;
    char text[16];
};

static key_t key;

/* Whether signal `sig` is no longer pending for `pid` (its handler dispatched), within 1 s. */
static int signal_taken(pid_t pid, int sig)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    for (int i = 0; i < 10000; i++) {
        FILE *f = fopen(path, "r");
        if (!f)
            return 0;
        unsigned long long pending = 0, mask;
        while (fgets(line, sizeof line, f))
            if ((sscanf(line, "SigPnd: %llx", &mask) == 1 || sscanf(line, "ShdPnd: %llx", &mask) == 1))
                pending |= mask;
        fclose(f);
        if (!(pending & (1ULL << (sig - 1))))
            return 1;
        fault_sleep_us(100);
    }
    return 0;
}

static void busy(unsigned i, void *ctx)
{
    static int id = -1;
    (void)i;
    (void)ctx;
    fault_sysv_busy_call(&id, key, BUSY_TYPE, 1, BUSY_TYPE, 0);
}

int main(void)
{
    fault_seed("sysv_interrupted_typed_receiver_while_holder_stopped");
    int id = t_msgget_new("typedintr", 0600, &key);
    T_REQUIRE(id >= 0);
    struct msg other = { OTHER_TYPE, "other" };
    T_REQUIRE(msgsnd(id, &other, 5, 0) == 0);
    struct fault_holder holder = fault_holder_start(busy, NULL);

    int rounds = 0, never_blocked = 0, wrong = 0, first_wrong = 0;
    for (int round = 0; round < ROUNDS && wrong == 0; round++) {
        fault_holder_stop(&holder);
        int fds[2];
        T_REQUIRE(pipe(fds) == 0);
        pid_t pid = t_fork();
        if (pid == 0) {
            fault_catch(SIGUSR1);
            struct msg m;
            fault_answer_and_exit(fds[1], msgrcv(id, &m, sizeof m.text, RECEIVER_TYPE, 0));
        }
        close(fds[1]);
        if (!fault_caller_blocked(pid, fds[0], &never_blocked)) {
            fault_holder_continue(&holder);
            continue;
        }
        rounds++;
        int e = -1;
        for (int i = 0; i < SIGNALS && e == -1; i++) {
            kill(pid, SIGUSR1);
            e = fault_answer(fds[0], SIGNAL_EVERY_MS);
        }
        if (e == -1)
            T_REQUIRE(signal_taken(pid, SIGUSR1));
        fault_holder_continue(&holder);
        if (e == -1)
            e = fault_answer(fds[0], ANSWER_MS);
        if (e != EINTR && wrong++ == 0)
            first_wrong = e;
        if (e == -1)
            kill(pid, SIGKILL);
        t_reap(pid);
        close(fds[0]);
    }
    fault_holder_end(&holder, 0);
    fprintf(stderr, "sysv_interrupted_typed_receiver_while_holder_stopped: %d rounds, %d wrong, %d never blocked\n", rounds, wrong, never_blocked);

    t_say("interrupted receivers in some rounds: %s", rounds > 0 ? "yes" : "no");
    t_say("every receiver blocked: %s", never_blocked == 0 ? "yes" : "no");
    if (wrong == 0)
        t_say("every interrupted receiver answered EINTR: yes");
    else
        t_say("every interrupted receiver answered EINTR: no (first: %s)",
              first_wrong == -1 ? "no answer" : first_wrong == 0 ? "a message" : t_errno_name(first_wrong));
    struct msg m;
    EXPECT_EQ(msgrcv(id, &m, sizeof m.text, OTHER_TYPE, IPC_NOWAIT), 5);
    EXPECT_EQ(msgctl(id, IPC_RMID, NULL), 0);
    return t_finish();
}
