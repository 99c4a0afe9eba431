/* Thousands of seeded-random non-blocking sends and receives on one queue (maxmsg 10,
 * msgsize 16; lengths 0..16; mq_send/mq_timedsend and mq_receive/mq_timedreceive mixed)
 * checked one by one against an in-test model: receive returns the highest priority, FIFO
 * within a priority; send on a full queue and receive on an empty one are EAGAIN; mq_curmsgs
 * matches. One phase draws priorities from 0..32767, a second from 0..3 (long FIFO runs within
 * a priority). The send/receive mix changes in tides, so the queue is often full and often
 * empty. Prints the number of operations and "model: agrees" (or the first disagreement). */
#include "harness.h"

#define MAXMSG 10
#define MSGSIZE 16
#define OPS_PER_PHASE 3000

struct mmsg {
    unsigned prio;
    unsigned long seq;
    int len;
    char data[MSGSIZE];
};

static struct mmsg model[MAXMSG];
static int nmodel;
static unsigned long next_seq;
static uint64_t rng = 0x9E3779B97F4A7C15ull;

static uint32_t rnd(void)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return (uint32_t)((rng * 0x2545F4914F6CDD1Dull) >> 32);
}

/* Index of the message a receive must return: highest priority, lowest seq. */
static int model_head(void)
{
    int best = 0;
    for (int i = 1; i < nmodel; i++)
        if (model[i].prio > model[best].prio ||
            (model[i].prio == model[best].prio && model[i].seq < model[best].seq))
            best = i;
    return best;
}

struct stats { long sent, full, received, empty; };

/* Runs one phase; returns 0 on the first disagreement (after printing it). */
static int phase(mqd_t q, const char *label, unsigned prio_range, struct stats *st)
{
    int send_pct = 50;
    for (int op = 0; op < OPS_PER_PHASE; op++) {
        if (op % 40 == 0)
            send_pct = (int[]){ 15, 50, 85 }[rnd() % 3];
        if ((int)(rnd() % 100) < send_pct) {
            struct mmsg m = { .prio = rnd() % prio_range, .len = (int)(rnd() % (MSGSIZE + 1)) };
            for (int i = 0; i < m.len; i++)
                m.data[i] = (char)rnd();
            int r, e;
            if (rnd() & 1) {
                errno = 0;
                r = mq_send(q, m.data, (size_t)m.len, m.prio);
            } else {
                struct timespec far = t_deadline_ms(60000);
                errno = 0;
                r = mq_timedsend(q, m.data, (size_t)m.len, m.prio, &far);
            }
            e = errno;
            if (nmodel == MAXMSG) {
                if (!(r == -1 && e == EAGAIN)) {
                    t_say("%s op %d: send on a full queue -> %d %s  !! MISMATCH: expected EAGAIN",
                          label, op, r, r ? t_errno_name(e) : "");
                    return 0;
                }
                st->full++;
            } else {
                if (r != 0) {
                    t_say("%s op %d: send (%d queued) -> -1 %s  !! MISMATCH: expected 0",
                          label, op, nmodel, t_errno_name(e));
                    return 0;
                }
                m.seq = next_seq++;
                model[nmodel++] = m;
                st->sent++;
            }
        } else {
            char buf[2 * MSGSIZE];
            size_t cap = MSGSIZE + rnd() % (MSGSIZE + 1);
            unsigned prio = 99999;
            ssize_t r;
            if (rnd() & 1) {
                errno = 0;
                r = mq_receive(q, buf, cap, &prio);
            } else {
                struct timespec far = t_deadline_ms(60000);
                errno = 0;
                r = mq_timedreceive(q, buf, cap, &prio, &far);
            }
            int e = errno;
            if (nmodel == 0) {
                if (!(r == -1 && e == EAGAIN)) {
                    t_say("%s op %d: receive on an empty queue -> %ld %s  !! MISMATCH: expected EAGAIN",
                          label, op, (long)r, r == -1 ? t_errno_name(e) : "");
                    return 0;
                }
                st->empty++;
            } else {
                int h = model_head();
                struct mmsg *m = &model[h];
                if (r != m->len || prio != m->prio || memcmp(buf, m->data, (size_t)m->len) != 0) {
                    t_say("%s op %d: receive -> len %ld prio %u; model: len %d prio %u%s  !! MISMATCH",
                          label, op, (long)r, prio, m->len, m->prio,
                          r == m->len && prio == m->prio ? " (contents differ)" : "");
                    return 0;
                }
                model[h] = model[--nmodel];
                st->received++;
            }
        }
        if (op % 97 == 0) {
            struct mq_attr a;
            if (mq_getattr(q, &a) != 0 || a.mq_curmsgs != nmodel) {
                t_say("%s op %d: mq_curmsgs %ld, model %d  !! MISMATCH", label, op,
                      (long)a.mq_curmsgs, nmodel);
                return 0;
            }
        }
    }
    return 1;
}

static int run_phase(mqd_t q, const char *label, unsigned prio_range)
{
    struct stats st = { 0, 0, 0, 0 };
    if (!phase(q, label, prio_range, &st)) {
        t_failures++;
        return 0;
    }
    t_say("%s: %d ops, model: agrees", label, OPS_PER_PHASE);
    t_say("  sent %ld, EAGAIN on full %ld, received %ld, EAGAIN on empty %ld",
          st.sent, st.full, st.received, st.empty);
    return 1;
}

int main(void)
{
    const char *name = t_qname("deepmodel");
    mqd_t q = t_mq_create("deepmodel", MAXMSG, MSGSIZE, O_NONBLOCK);

    /* stop at the first disagreement: model and queue have parted ways */
    if (run_phase(q, "priorities 0..32767", 32768) && run_phase(q, "priorities 0..3", 4))
        t_say("draining %d queued messages", nmodel);
    else
        nmodel = 0;
    while (nmodel > 0) {
        char buf[MSGSIZE];
        unsigned prio;
        int h = model_head();
        ssize_t r = mq_receive(q, buf, sizeof buf, &prio);
        if (r != model[h].len || prio != model[h].prio ||
            memcmp(buf, model[h].data, (size_t)model[h].len) != 0) {
            t_say("drain: receive -> %ld  !! MISMATCH", (long)r);
            t_failures++;
            break;
        }
        model[h] = model[--nmodel];
    }
    char buf[MSGSIZE];
    if (t_failures == 0)
        EXPECT_ERR(mq_receive(q, buf, sizeof buf, NULL), EAGAIN);
    EXPECT_EQ(mq_close(q), 0);
    EXPECT_EQ(mq_unlink(name), 0);
    return t_finish();
}
