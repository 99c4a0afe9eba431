/* Kill -9 stress: three senders and three receivers work one queue (maxmsg 10, msgsize 64)
 * while the parent repeatedly SIGKILLs a random child at a random moment and starts a
 * replacement. Every message carries (sender, seq, payload length, checksum) and a payload of
 * varying length; receivers log each message to a pipe as soon as they have it. At the end the
 * parent kills the rest, drains the queue and checks: no message was received twice, every
 * message was intact, the children died only by SIGKILL, and the queue still works. Messages
 * lost with a receiver killed before it logged them are allowed.
 *
 * Length: MQT_STRESS_SECONDS (default 1; `make stress` runs it long). Children are killed on
 * purpose, so their calls are cut short: the test is uncounted. */
#include "harness.h"

#define MAXMSG 10
#define MSGSIZE 64
#define STRESS_MAXPAYLOAD (MSGSIZE - 16)  /* a message is KILL9_HDR (16) bytes of ids, then this */
#include "mqt_stress.h"

static mqd_t q;

static unsigned prio_of(uint32_t sender, uint32_t seq)
{
    return stress_mix(2, (uint32_t[]){ seq, sender }) % 4;
}

/* Is this received message intact, with the priority it was sent with? */
static int intact(const struct kill9_msg *m, long n, unsigned prio)
{
    return kill9_intact(m, n) && prio == prio_of(m->sender, m->seq);
}

/* Odd seqs go by mq_timedsend with a far deadline, even ones by mq_send. */
static int send_one(const struct kill9_msg *m)
{
    if (m->seq & 1) {
        struct timespec far = t_deadline_ms(60000);
        return mq_timedsend(q, (const char *)m, KILL9_HDR + m->len, prio_of(m->sender, m->seq),
                            &far);
    }
    return mq_send(q, (const char *)m, KILL9_HDR + m->len, prio_of(m->sender, m->seq));
}

/* Odd receives go by mq_timedreceive with a far deadline, even ones by mq_receive. */
static long receive_one(unsigned i, uint32_t salt, struct kill9_msg *m, int *ok)
{
    (void)salt;
    unsigned prio = 0;
    long n;
    if (i & 1) {
        struct timespec far = t_deadline_ms(60000);
        n = mq_timedreceive(q, (char *)m, MSGSIZE, &prio, &far);
    } else {
        n = mq_receive(q, (char *)m, MSGSIZE, &prio);
    }
    *ok = intact(m, n, prio);
    return n;
}

static const struct kill9_queue posix_queue = { .send = send_one, .receive = receive_one };

int main(void)
{
    t_uncounted();
    const char *name = t_qname("kill9");
    q = t_mq_create("kill9", MAXMSG, MSGSIZE, 0);
    kill9_run(&posix_queue);

    /* Drain what is left, through a non-blocking descriptor of our own. */
    mqd_t nb = mq_open(name, O_RDONLY | O_NONBLOCK);
    T_REQUIRE(nb != (mqd_t)-1);
    for (;;) {
        struct kill9_msg m;
        unsigned prio = 0;
        memset(&m, 0, sizeof m);
        long n = mq_receive(nb, (char *)&m, MSGSIZE, &prio);
        if (n < 0) {
            if (errno != EAGAIN) {
                t_say("draining: mq_receive -> -1 %s  !! MISMATCH", t_errno_name(errno));
                t_failures++;
            }
            break;
        }
        kill9_note(m.sender, m.seq, intact(&m, n, prio));
    }

    kill9_verdicts();
    t_check("children ended only by SIGKILL", kill9.unexpected_exits == 0);

    struct mq_attr attr;
    char buf[MSGSIZE];
    unsigned prio = 0;
    int works = mq_getattr(q, &attr) == 0 && attr.mq_curmsgs == 0 &&
                mq_send(q, "final", 5, 7) == 0 &&
                mq_receive(nb, buf, sizeof buf, &prio) == 5 && memcmp(buf, "final", 5) == 0 &&
                prio == 7 && mq_receive(nb, buf, sizeof buf, NULL) == -1 && errno == EAGAIN;
    t_check("queue works", works);
    if (t_failures)
        fprintf(stderr, "kill9 stress: seed %#llx, %ld kills, %ld messages received\n",
                (unsigned long long)kill9.seed, kill9.kills, kill9.received);

    mq_close(nb);
    mq_close(q);
    mq_unlink(name);
    return t_finish();
}
