/* Soak: four producer and four consumer processes share one queue (maxmsg 10, msgsize 64) with
 * blocking calls only (mq_send/mq_timedsend, mq_receive/mq_timedreceive with far deadlines), so
 * the queue is full and empty over and over and every send or receive may block and be woken.
 * The run is a series of rounds; in each, every producer sends 500 messages carrying
 * (producer, round, seq, length, checksum) and a payload of varying length; rounds alternate
 * one priority for everything and mixed priorities (1, 7, 4000, 32767). The producer that
 * finishes last sends one end marker per consumer at priority 0, behind every message of the
 * round; a consumer that takes one stops and waits for the next round, so each takes exactly
 * one. Consumers report every message, in the order they received it, through a pipe of their
 * own. After each round the parent checks: every message arrived exactly once and intact with
 * the priority it was sent with; each consumer saw each producer's messages of a priority in
 * the order they were sent (FIFO within a priority); each consumer got one marker; the queue is
 * empty. A lost wake-up hangs a round, and the watchdog (re-armed every round) turns that into
 * TIMEOUT.
 *
 * Length: rounds until MQT_STRESS_SECONDS (default 1) have passed, at least one of each kind.
 * The transcript holds only the fixed per-round figures and the verdicts. */
#include "harness.h"

#define MAXMSG 10
#define MSGSIZE 64
#define STRESS_MAXPAYLOAD (MSGSIZE - 20)  /* a message is SOAK_HDR (20) bytes of ids, then this */
#include "mqt_stress.h"

static const long mixed_prios[] = { 1, 7, 4000, 32767 };

static mqd_t q;

/* Odd seqs go by mq_timedsend with a far deadline; even ones and the end markers by mq_send. */
static int send_one(const struct soak_msg *m, long prio, uint32_t seq)
{
    if (seq & 1) {
        struct timespec far = t_deadline_ms(60000);
        return mq_timedsend(q, (const char *)m, SOAK_HDR + m->len, (unsigned)prio, &far);
    }
    return mq_send(q, (const char *)m, SOAK_HDR + m->len, (unsigned)prio);
}

/* Odd receives go by mq_timedreceive with a far deadline, even ones by mq_receive. */
static long receive_one(int consumer, unsigned i, struct soak_msg *m, long *prio)
{
    (void)consumer;
    unsigned p = 0;
    long n;
    if (i & 1) {
        struct timespec far = t_deadline_ms(60000);
        n = mq_timedreceive(q, (char *)m, MSGSIZE, &p, &far);
    } else {
        n = mq_receive(q, (char *)m, MSGSIZE, &p);
    }
    *prio = p;
    return n;
}

static int is_empty(void)
{
    struct mq_attr a;
    return mq_getattr(q, &a) == 0 && a.mq_curmsgs == 0;
}

static const struct soak_queue posix_queue = {
    .send = send_one,
    .receive = receive_one,
    .is_empty = is_empty,
    .classes = mixed_prios,
    .nclasses = 4,
    .marker_class = 0,
};

int main(void)
{
    const char *name = t_qname("soak");
    q = t_mq_create("soak", MAXMSG, MSGSIZE, 0);
    struct soak_totals totals = soak_run(&posix_queue);

    t_say("queue: maxmsg %d, msgsize %d; %d producers, %d consumers, blocking calls", MAXMSG,
          MSGSIZE, SOAK_NPROD, SOAK_NCONS);
    t_say("per round: %d messages (%d per producer), then %d end markers",
          SOAK_NPROD * SOAK_PER_ROUND, SOAK_PER_ROUND, SOAK_NCONS);
    t_say("rounds alternate: priority %ld for all; priorities %ld, %ld, %ld, %ld mixed",
          mixed_prios[0], mixed_prios[0], mixed_prios[1], mixed_prios[2], mixed_prios[3]);
    soak_verdicts(&totals, "priority");

    EXPECT_EQ(mq_close(q), 0);
    EXPECT_EQ(mq_unlink(name), 0);
    return t_finish();
}
