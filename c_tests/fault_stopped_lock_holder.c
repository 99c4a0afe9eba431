/* mqt: */
/* Shown failing on the code before bounded lock waits: a busy process stopped while it held a
 * queue's lock made the other processes' non-blocking, timed and control calls wait until it ran
 * again (mq_receive/mq_send O_NONBLOCK or mq_open did not return within 2 s); then, with waits
 * bounded, msgget of an existing key gave EAGAIN after 20 ms while the registry lock's holder was
 * stopped, until existing keys were found without that lock. */
/* A process stopped (SIGSTOP) in the middle of its queue calls holds nothing that others wait
 * for: on the kernel a stopped task holds no queue lock, so every other process's non-blocking
 * call (O_NONBLOCK mq_send/mq_receive, IPC_NOWAIT msgsnd/msgrcv, mq_getattr, IPC_STAT, and
 * mq_open/mq_close/msgget) returns at once and every timed call (mq_timedsend/mq_timedreceive)
 * returns by its deadline. An emulation whose locks live in shared memory must give the same
 * guarantee whatever the stopped process held.
 *
 * Two "busy" children hammer one POSIX queue and one System V queue with every kind of call;
 * the parent stops one or both at pseudo-random moments, many times, and while they are stopped
 * a prober child makes the bounded calls (non-blocking and control calls within 500 ms every
 * round, timed calls with a 50 ms deadline within deadline + 500 ms every 8th round); a call
 * that errs other than the kernel would (EAGAIN, ENOMSG, ETIMEDOUT) also counts as a violation. The parent waits for the
 * prober at most 2 s per round, so a call that never returns is reported, not a watchdog
 * timeout. The transcript says only whether every call kept its bound. The busy children are
 * killed (SIGKILL) at the end, so the test is uncounted. */
#include "harness.h"
#include "mqt_fault.h"

#define ROUNDS 200
#define TIMED_EVERY 8                      /* rounds; the timed calls cost up to 2 x 50 ms */
#define MAXMSG 8
#define MSGSIZE 64
/* A non-blocking or control call: the library waits at most 20 ms for a lock (220 ms while its
 * holder runs); the rest absorbs scheduling on a loaded 2-CPU machine. A hang is seconds. */
#define BOUND_NS (500 * 1000000LL)
#define TIMED_MS 50                        /* the timed calls' deadline */
#define PROBER_WAIT_MS 2000                /* a round's probe that takes longer is hung */

static const char *qname;
static key_t key;
static int msqid;

struct sysv_msg {
    long mtype;
    char mtext[MSGSIZE];
};

/* One busy child: a pseudo-random mix of every call on both queues, forever. */
static void busy(uint64_t seed)
{
    fault_rng_state = seed;
    mqd_t q = mq_open(qname, O_RDWR | O_NONBLOCK);
    T_REQUIRE(q != (mqd_t)-1);
    char buf[MSGSIZE];
    struct sysv_msg m;
    memset(buf, 'b', sizeof buf);
    memset(&m, 0, sizeof m);
    for (;;) {
        struct mq_attr a;
        struct msqid_ds ds;
        unsigned prio;
        switch (fault_below(10)) {
        case 0: case 1:
            mq_send(q, buf, 1 + fault_below(MSGSIZE), (unsigned)fault_below(8));
            break;
        case 2: case 3:
            mq_receive(q, buf, MSGSIZE, &prio);
            break;
        case 4:
            mq_getattr(q, &a);
            break;
        case 5: {
            mqd_t extra = mq_open(qname, O_RDWR);
            if (extra != (mqd_t)-1)
                mq_close(extra);
            break;
        }
        case 6:
            m.mtype = 1 + (long)fault_below(3);
            msgsnd(msqid, &m, 1 + fault_below(MSGSIZE), IPC_NOWAIT);
            break;
        case 7:
            msgrcv(msqid, &m, MSGSIZE, 0, IPC_NOWAIT);
            break;
        case 8:
            msgctl(msqid, IPC_STAT, &ds);
            break;
        default:
            msgget(key, 0);
            break;
        }
    }
}

enum probe_call {
    P_MQ_RECEIVE, P_MQ_SEND, P_MQ_GETATTR, P_MQ_OPEN_CLOSE, P_MQ_TIMEDRECEIVE, P_MQ_TIMEDSEND,
    P_MSGRCV, P_MSGSND, P_MSGCTL_STAT, P_MSGGET, P_COUNT
};
static const char *const probe_names[P_COUNT] = {
    "mq_receive (O_NONBLOCK)", "mq_send (O_NONBLOCK)", "mq_getattr", "mq_open + mq_close",
    "mq_timedreceive (50 ms)", "mq_timedsend (50 ms)", "msgrcv (IPC_NOWAIT)",
    "msgsnd (IPC_NOWAIT)", "msgctl (IPC_STAT)", "msgget",
};

/* One probe call: `ok` says whether its result is one the kernel could give. */
static int probe_one(struct fault_prober *p, enum probe_call c, mqd_t qnb, mqd_t qb, struct fault_probe_report *r)
{
    char buf[MSGSIZE];
    struct sysv_msg m;
    struct mq_attr a;
    struct msqid_ds ds;
    unsigned prio;
    long rv = 0;
    int ok;
    memset(buf, 'p', sizeof buf);
    memset(&m, 0, sizeof m);
    m.mtype = 1;
    *p->call = c;
    int64_t start = fault_now_ns();
    int64_t bound = BOUND_NS;
    errno = 0;
    switch (c) {
    case P_MQ_RECEIVE:
        rv = mq_receive(qnb, buf, MSGSIZE, &prio);
        ok = rv >= 0 || errno == EAGAIN;
        break;
    case P_MQ_SEND:
        rv = mq_send(qnb, buf, 8, 1);
        ok = rv == 0 || errno == EAGAIN;
        break;
    case P_MQ_GETATTR:
        rv = mq_getattr(qnb, &a);
        ok = rv == 0;
        break;
    case P_MQ_OPEN_CLOSE: {
        mqd_t extra = mq_open(qname, O_RDWR);
        ok = extra != (mqd_t)-1 && mq_close(extra) == 0;
        break;
    }
    case P_MQ_TIMEDRECEIVE: {
        struct timespec dl = t_deadline_ms(TIMED_MS);
        bound += TIMED_MS * 1000000LL;
        rv = mq_timedreceive(qb, buf, MSGSIZE, &prio, &dl);
        ok = rv >= 0 || errno == ETIMEDOUT;
        break;
    }
    case P_MQ_TIMEDSEND: {
        struct timespec dl = t_deadline_ms(TIMED_MS);
        bound += TIMED_MS * 1000000LL;
        rv = mq_timedsend(qb, buf, 8, 2, &dl);
        ok = rv == 0 || errno == ETIMEDOUT;
        break;
    }
    case P_MSGRCV:
        rv = msgrcv(msqid, &m, MSGSIZE, 0, IPC_NOWAIT);
        ok = rv >= 0 || errno == ENOMSG;
        break;
    case P_MSGSND:
        rv = msgsnd(msqid, &m, 8, IPC_NOWAIT);
        ok = rv == 0 || errno == EAGAIN;
        break;
    case P_MSGCTL_STAT:
        rv = msgctl(msqid, IPC_STAT, &ds);
        ok = rv == 0;
        break;
    default:
        rv = msgget(key, 0);
        ok = rv == msqid;
        break;
    }
    return fault_probe_kept(p, c, ok, errno, start, bound, r);
}

/* The prober's round: one probe of every call ('t') or of every call but the timed ones ('n'),
 * until one fails. Its descriptors are opened at its first round. */
static void probe_round(struct fault_prober *p, char what, struct fault_probe_report *r)
{
    static mqd_t qnb = (mqd_t)-1, qb = (mqd_t)-1;
    if (qnb == (mqd_t)-1) {
        qnb = mq_open(qname, O_RDWR | O_NONBLOCK);
        qb = mq_open(qname, O_RDWR);
        T_REQUIRE(qnb != (mqd_t)-1 && qb != (mqd_t)-1);
    }
    for (int c = 0; c < P_COUNT; c++)
        if ((what == 't' || (c != P_MQ_TIMEDRECEIVE && c != P_MQ_TIMEDSEND))
            && !probe_one(p, (enum probe_call)c, qnb, qb, r))
            break;
}

int main(void)
{
    fault_seed("fault_stopped_lock_holder");
    t_uncounted();
    qname = t_qname("stop");
    mqd_t q = t_mq_create("stop", MAXMSG, MSGSIZE, 0);
    msqid = t_msgget_new("stop", 0600, &key);

    pid_t busy_pid[2];
    for (int i = 0; i < 2; i++) {
        uint64_t seed = fault_rand();
        busy_pid[i] = t_fork();
        if (busy_pid[i] == 0)
            busy(seed);
    }
    struct fault_prober prober;
    fault_prober_start(&prober, probe_round);

    struct fault_probe_report first = { -1, 0, 0 };
    int hung = -1;
    for (int round = 0; round < ROUNDS; round++)
        if (!fault_prober_round(&prober, busy_pid, round % TIMED_EVERY == 0 ? 't' : 'n', PROBER_WAIT_MS, P_COUNT, &first, &hung))
            break;

    for (int i = 0; i < 2; i++) {
        kill(busy_pid[i], SIGKILL);
        t_reap(busy_pid[i]);
    }
    fault_prober_end(&prober, hung, &first, probe_names, P_COUNT, PROBER_WAIT_MS, "all within bound");

    EXPECT_OK(mq_close(q));
    EXPECT_OK(mq_unlink(qname));
    EXPECT_OK(msgctl(msqid, IPC_RMID, NULL));
    return t_finish();
}
