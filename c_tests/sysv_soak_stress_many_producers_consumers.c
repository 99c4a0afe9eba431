/* Soak: four producer and four consumer processes share one System V queue (the default
 * qbytes) with blocking msgsnd and msgrcv only, so the queue fills and empties over and over and
 * every call may block and be woken. Half the consumers take the oldest message (msgtyp 0), half
 * the oldest of the lowest type (msgtyp -1000). The run is a series of rounds; in each, every
 * producer sends 500 messages carrying (producer, round, seq, length, checksum) and a payload of
 * varying length; rounds alternate one type for everything and mixed types (1, 5, 1000). The
 * producer that finishes last sends one end marker per consumer, of type 1000, behind every
 * message of the round (for msgtyp 0 by arrival, for msgtyp -1000 since no data type is
 * higher); a consumer that takes one stops and waits for the next round, so each takes exactly
 * one. Consumers report every message, in the order they received it, through a pipe of their
 * own. After each round the parent checks: every message arrived exactly once and intact with
 * the type it was sent with; each consumer saw each producer's messages of a type in the order
 * they were sent (FIFO within a type); each consumer got one marker; the queue is empty
 * (IPC_STAT). A lost wake-up hangs a round, and the watchdog (re-armed every round) turns that
 * into TIMEOUT.
 *
 * Length: rounds until MQT_STRESS_SECONDS (default 1) have passed, at least one of each kind.
 * The transcript holds only the fixed per-round figures and the verdicts. */
#include "harness.h"

#define STRESS_MAXPAYLOAD 120
#include "mqt_stress.h"

static const long mixed_types[] = { 1, 5, 1000 };
#define MARKER_TYPE 1000

/* A message as msgsnd and msgrcv see it: the mtype, then the text. */
struct typed_msg {
    long mtype;
    struct soak_msg text;
};

static int q;

static int send_typed(const struct soak_msg *m, long type, uint32_t seq)
{
    (void)seq;
    struct typed_msg w = { type, *m };
    return msgsnd(q, &w, SOAK_HDR + m->len, 0);
}

/* Even consumers take the oldest message (msgtyp 0), odd ones the oldest of the lowest type
 * (msgtyp -MARKER_TYPE). */
static long receive_typed(int consumer, unsigned i, struct soak_msg *m, long *type)
{
    (void)i;
    struct typed_msg w;
    memset(&w, 0, sizeof w);
    long n = msgrcv(q, &w, SOAK_HDR + STRESS_MAXPAYLOAD, consumer % 2 ? -MARKER_TYPE : 0, 0);
    *m = w.text;
    *type = w.mtype;
    return n;
}

static int is_empty(void)
{
    struct msqid_ds ds;
    return msgctl(q, IPC_STAT, &ds) == 0 && ds.msg_qnum == 0 && ds.msg_cbytes == 0;
}

static const struct soak_queue sysv_queue = {
    .send = send_typed,
    .receive = receive_typed,
    .is_empty = is_empty,
    .classes = mixed_types,
    .nclasses = 3,
    .marker_class = MARKER_TYPE,
};

int main(void)
{
    q = t_msgget_new("soak", 0600, NULL);
    struct msqid_ds ds;
    T_REQUIRE(msgctl(q, IPC_STAT, &ds) == 0);
    unsigned long qbytes = ds.msg_qbytes;
    struct soak_totals totals = soak_run(&sysv_queue);

    t_say("queue: qbytes %lu (the default); %d producers, %d consumers (msgtyp 0 and -%d), "
          "blocking calls", qbytes, SOAK_NPROD, SOAK_NCONS, MARKER_TYPE);
    t_say("per round: %d messages (%d per producer), then %d end markers",
          SOAK_NPROD * SOAK_PER_ROUND, SOAK_PER_ROUND, SOAK_NCONS);
    t_say("rounds alternate: type %ld for all; types %ld, %ld, %ld mixed", mixed_types[0],
          mixed_types[0], mixed_types[1], mixed_types[2]);
    soak_verdicts(&totals, "type");

    EXPECT_EQ(msgctl(q, IPC_RMID, NULL), 0);
    return t_finish();
}
