/* A caller blocked in msgrcv or msgsnd fails at once — EIDRM when its queue is removed, EINTR
 * when a signal handler runs, EACCES when IPC_SET takes its permission away — while another
 * process is stopped (SIGSTOP) at any moment of a call on the same queue, as on the kernel,
 * where a stopped process holds no lock. Under the
 * emulation the stopped process may hold the queue's lock, which the blocked caller needs to
 * collect its outcome: unless a holder already served it, it leaves its waiter record
 * without the lock. A message of its type sent after an interrupted receiver left is then
 * received as usual, not handed to the record it left.
 * A busy child sends to and receives from the test key's queue (making it again when it
 * finds it removed). Each round blocks a forked receiver (of a type nobody else uses) or
 * sender (of a message larger than the queue's msg_qbytes), stops the busy child at a
 * pseudo-random moment, removes the queue, signals the blocked caller or (the caller another
 * user) makes the queue 0600 — raising msg_qbytes, since IPC_SET wakes a blocked sender only
 * once its message fits — and waits up to a second for its answer before the busy child goes
 * on.
 * Shown failing on the code before this test (ff96844, shim-emulate): whenever the busy child
 * was stopped holding the queue's lock, the blocked caller answered only once it went on
 * ("blocked callers answered while the other process was stopped: not all (first: receiver,
 * queue removed)"); for the permission rounds, added later, the same on 454117d-b4892cd
 * (first: receiver, permission taken). */
#include "harness.h"
#include "mqt_fault.h"

#define ROUNDS 120
/* How long a blocked caller's answer is waited for while the busy child is stopped: the
 * kernel's is immediate, the emulation's within milliseconds. */
#define ANSWER_MS 1000
/* The blocked receiver's type, and the blocked sender's (neither is the busy child's). */
#define RECEIVER_TYPE 9
#define SENDER_TYPE 7
/* The queue's msg_qbytes in the sender's rounds, and the sender's message, which never fits. */
#define SMALL_QBYTES 64
#define TOO_BIG 100

struct msg {
    long mtype;
    char text[128];
};

static key_t key;

/* The stopped child's calls: sends of three types and receives of each, so that it takes the
 * queue's lock at every call while someone is blocked in the queue; a queue found removed is
 * made again. */
static void busy(unsigned i, void *ctx)
{
    static int id = -1;
    (void)ctx;
    fault_sysv_busy_call(&id, key, 1 + i % 3, 1, 1 + (i + 1) % 3, 0);
}

/* What happens to the blocked caller in a round. */
enum { REMOVE, SIGNAL, PERMISSION };

static const char *const KINDS[6] = {
    "receiver, queue removed", "receiver, signal", "sender, queue removed", "sender, signal",
    "receiver, permission taken", "sender, permission taken",
};

int main(void)
{
    fault_seed("sysv_blocked_callers_fail_at_once_while_holder_stopped");
    (void)t_msgget_new("blockstop", 0600, &key);
    struct fault_holder holder = fault_holder_start(busy, NULL);

    int rounds = 0, late = 0, first_late = -1, wrong = 0, first_wrong = -1, wrong_errno = 0;
    int never_blocked = 0, lost = 0, sent_anyway = 0;
    int64_t slowest_ns = 0;
    for (int round = 0; round < ROUNDS && late == 0; round++) {
        int kind = round % 6, receiving = kind < 2 || kind == 4, how = kind < 4 ? kind % 2 : PERMISSION;
        int id = msgget(key, IPC_CREAT | 0600);
        T_REQUIRE(id >= 0);
        struct msqid_ds ds;
        T_REQUIRE(msgctl(id, IPC_STAT, &ds) == 0);
        ds.msg_qbytes = receiving ? 16384 : SMALL_QBYTES;
        ds.msg_perm.mode = 0666;
        T_REQUIRE(msgctl(id, IPC_SET, &ds) == 0);

        int fds[2];
        T_REQUIRE(pipe(fds) == 0);
        pid_t pid = t_fork();
        if (pid == 0) {
            fault_catch(SIGUSR1);
            if (how == PERMISSION)
                t_become_nobody(0);
            struct msg m = { SENDER_TYPE, "too big" };
            long r = receiving ? msgrcv(id, &m, sizeof m.text, RECEIVER_TYPE, 0) : msgsnd(id, &m, TOO_BIG, 0);
            fault_answer_and_exit(fds[1], r);
        }
        close(fds[1]);
        if (!fault_caller_blocked(pid, fds[0], &never_blocked))
            continue;
        rounds++;

        fault_holder_stop(&holder);
        int64_t acted_ns = fault_now_ns();
        if (how == REMOVE) {
            T_REQUIRE(msgctl(id, IPC_RMID, NULL) == 0);
        } else if (how == PERMISSION) {
            ds.msg_perm.mode = 0600;
            ds.msg_qbytes = 16384;
            T_REQUIRE(msgctl(id, IPC_SET, &ds) == 0);
        }
        int e = how == SIGNAL ? fault_answer_signalled(pid, SIGUSR1, fds[0], ANSWER_MS) : fault_answer(fds[0], ANSWER_MS);
        if (e == -1 && late++ == 0)
            first_late = kind;
        if (e != -1 && fault_now_ns() - acted_ns > slowest_ns)
            slowest_ns = fault_now_ns() - acted_ns;
        fault_holder_continue(&holder);
        if (e == -1)
            e = how == SIGNAL ? fault_answer_signalled(pid, SIGUSR1, fds[0], 10000) : fault_answer(fds[0], 10000);
        if (e != (how == REMOVE ? EIDRM : how == SIGNAL ? EINTR : EACCES) && wrong++ == 0) {
            first_wrong = kind;
            wrong_errno = e;
        }
        t_reap(pid);
        close(fds[0]);

        if (how != REMOVE && receiving) {
            /* The receiver left: a message of its type stays in the queue for the next one. */
            struct msg m = { RECEIVER_TYPE, "after" };
            if (msgsnd(id, &m, 5, IPC_NOWAIT) != 0 || msgrcv(id, &m, sizeof m.text, RECEIVER_TYPE, IPC_NOWAIT) != 5)
                lost++;
        } else if (how != REMOVE) {
            /* The sender left: its message was not sent. */
            struct msg m;
            if (msgrcv(id, &m, sizeof m.text, SENDER_TYPE, IPC_NOWAIT | MSG_NOERROR) >= 0 || errno != ENOMSG)
                sent_anyway++;
        }
    }
    fault_holder_end(&holder, 0);
    fprintf(stderr, "sysv_blocked_callers_fail_at_once_while_holder_stopped: %d rounds, %d late, %d never blocked, slowest answer %.1f ms\n",
            rounds, late, never_blocked, slowest_ns / 1e6);

    t_say("blocked callers in some rounds: %s", rounds > 0 ? "yes" : "no");
    t_say("every blocked caller blocked: %s", never_blocked == 0 ? "yes" : "no");
    if (late == 0)
        t_say("blocked callers answered while the other process was stopped: all");
    else
        t_say("blocked callers answered while the other process was stopped: not all (first: %s)", KINDS[first_late]);
    if (wrong == 0)
        t_say("their answers: EIDRM when removed, EINTR when signalled, EACCES when shut out");
    else
        t_say("their answers: some wrong (first: %s, %s)", KINDS[first_wrong], wrong_errno == 0 ? "success" : wrong_errno < 0 ? "no answer" : t_errno_name(wrong_errno));
    t_say("a message sent after a receiver left was received: %s", lost == 0 ? "yes" : "no");
    t_say("the message of a sender that left was not sent: %s", sent_anyway == 0 ? "yes" : "no");
    int id = msgget(key, 0);
    if (id >= 0)
        (void)msgctl(id, IPC_RMID, NULL);
    return t_finish();
}
