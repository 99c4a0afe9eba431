/* mqt: static */
/* Thousands of seeded-random non-blocking msgsnd and msgrcv calls on one queue, checked one by
 * one against an in-test model of the kernel's find_msg: msgtyp 0 takes the oldest message,
 * > 0 the oldest of that type, > 0 with MSG_EXCEPT the oldest of any other type, < 0 the
 * oldest of the lowest type not above |msgtyp|; a message longer than msgsz is E2BIG (and
 * stays) without MSG_NOERROR and truncated with it; MSG_COPY copies the message at a position;
 * nothing matching is ENOMSG; a send that would pass qbytes (in bytes or messages) is EAGAIN.
 * qnum and cbytes are compared too. Three phases: 3 types (long runs of a type), 60 types,
 * and 1000 types (a deep queue of many types). Prints counts and "model: agrees" (or the first
 * disagreement). */
#include "harness.h"
#include <limits.h>

#ifndef MSG_COPY
#define MSG_COPY 040000
#endif
#define MAXLEN 40
#define MAXQ 16400

struct mmsg {
    long type;
    int len;
    char data[MAXLEN];
};

static struct mmsg model[MAXQ];     /* in arrival order */
static int nmodel;
static long mbytes;
static uint64_t rng = 0x243F6A8885A308D3ull;

static uint32_t rnd(void)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return (uint32_t)((rng * 0x2545F4914F6CDD1Dull) >> 32);
}

/* The kernel's find_msg: index of the message a receive takes, or -1. */
static int model_find(long msgtyp, int flags)
{
    if (flags & MSG_COPY)
        return msgtyp >= 0 && msgtyp < nmodel ? (int)msgtyp : -1;
    if (msgtyp == 0)
        return nmodel ? 0 : -1;
    if (msgtyp < 0) {
        long limit = msgtyp == LONG_MIN ? LONG_MAX : -msgtyp;
        int best = -1;
        for (int i = 0; i < nmodel; i++)
            if (model[i].type <= limit && (best < 0 || model[i].type < model[best].type))
                best = i;
        return best;
    }
    for (int i = 0; i < nmodel; i++)
        if ((flags & MSG_EXCEPT) ? model[i].type != msgtyp : model[i].type == msgtyp)
            return i;
    return -1;
}

struct stats { long sent, full, received, e2big, truncated, copied, nomsg; };

static int phase(int id, const char *label, long ntypes, int ops, long qbytes, struct stats *st)
{
    for (int op = 0; op < ops; op++) {
        int send_pct = (op / 200) % 2 ? 70 : 40;   /* tides: the queue fills and drains */
        if ((int)(rnd() % 100) < send_pct) {
            struct t_msg m;
            struct mmsg mm;
            mm.type = 1 + (long)(rnd() % (uint32_t)ntypes);
            mm.len = (int)(rnd() % (MAXLEN + 1));
            for (int i = 0; i < mm.len; i++)
                mm.data[i] = (char)('a' + rnd() % 26);
            m.mtype = mm.type;
            memcpy(m.mtext, mm.data, (size_t)mm.len);
            errno = 0;
            int r = msgsnd(id, &m, (size_t)mm.len, IPC_NOWAIT);
            int e = errno;
            int fits = mbytes + mm.len <= qbytes && nmodel + 1 <= qbytes && nmodel < MAXQ;
            if (!fits) {
                if (!(r == -1 && e == EAGAIN)) {
                    t_say("%s op %d: send len %d on a full queue -> %d %s  !! MISMATCH", label, op,
                          mm.len, r, r ? t_errno_name(e) : "");
                    return 0;
                }
                st->full++;
            } else {
                if (r != 0) {
                    t_say("%s op %d: send -> -1 %s  !! MISMATCH", label, op, t_errno_name(e));
                    return 0;
                }
                model[nmodel++] = mm;
                mbytes += mm.len;
                st->sent++;
            }
            continue;
        }
        /* A receive: which selection, which buffer. */
        long msgtyp;
        int flags = IPC_NOWAIT;
        switch (rnd() % 7) {
        case 0: msgtyp = 0; break;
        case 1: case 2: msgtyp = 1 + (long)(rnd() % (uint32_t)(ntypes + 1)); break;
        case 3: msgtyp = 1 + (long)(rnd() % (uint32_t)(ntypes + 1)); flags |= MSG_EXCEPT; break;
        case 4: msgtyp = -(long)(1 + rnd() % (uint32_t)(ntypes + 1)); break;
        case 5: msgtyp = rnd() % 16 == 0 ? LONG_MIN : -(long)(1 + rnd() % 3); break;
        default: msgtyp = (long)(rnd() % (uint32_t)(nmodel + 2)); flags |= MSG_COPY; break;
        }
        size_t msgsz = rnd() % 4 ? MAXLEN : rnd() % (MAXLEN + 1);
        if (!(flags & MSG_COPY) && rnd() % 3 == 0)
            flags |= MSG_NOERROR;
        struct t_msg r;
        memset(&r, 0, sizeof r);
        errno = 0;
        long n = msgrcv(id, &r, msgsz, msgtyp, flags);
        int e = errno;
        int h = model_find(msgtyp, flags);
        if (h < 0) {
            if (!(n == -1 && e == ENOMSG)) {
                t_say("%s op %d: msgrcv(msgtyp %ld, flags %#x) -> %ld %s; model: ENOMSG  !! MISMATCH",
                      label, op, msgtyp, flags, n, n < 0 ? t_errno_name(e) : "");
                return 0;
            }
            st->nomsg++;
            continue;
        }
        struct mmsg *want = &model[h];
        if ((size_t)want->len > msgsz && !(flags & MSG_NOERROR)) {
            if (!(n == -1 && e == E2BIG)) {
                t_say("%s op %d: msgrcv(msgtyp %ld, msgsz %zu) -> %ld %s; model: E2BIG  !! MISMATCH",
                      label, op, msgtyp, msgsz, n, n < 0 ? t_errno_name(e) : "");
                return 0;
            }
            st->e2big++;
            continue;
        }
        long expect_len = want->len < (long)msgsz ? want->len : (long)msgsz;
        if (n != expect_len || r.mtype != want->type || memcmp(r.mtext, want->data, (size_t)expect_len) != 0) {
            t_say("%s op %d: msgrcv(msgtyp %ld, flags %#x) -> len %ld type %ld; model: len %ld type %ld  !! MISMATCH",
                  label, op, msgtyp, flags, n, r.mtype, expect_len, want->type);
            return 0;
        }
        if (flags & MSG_COPY) {
            st->copied++;
            continue;
        }
        if (expect_len < want->len)
            st->truncated++;
        mbytes -= want->len;
        memmove(&model[h], &model[h + 1], (size_t)(nmodel - h - 1) * sizeof model[0]);
        nmodel--;
        st->received++;
        if (op % 53 == 0) {
            struct msqid_ds ds;
            if (msgctl(id, IPC_STAT, &ds) != 0 || (long)ds.msg_qnum != nmodel || (long)ds.__msg_cbytes != mbytes) {
                t_say("%s op %d: IPC_STAT qnum %lu cbytes %lu, model %d %ld  !! MISMATCH", label, op,
                      (unsigned long)ds.msg_qnum, (unsigned long)ds.__msg_cbytes, nmodel, mbytes);
                return 0;
            }
        }
    }
    return 1;
}

static int run_phase(int id, const char *label, long ntypes, int ops, long qbytes)
{
    struct msqid_ds ds;
    T_REQUIRE(msgctl(id, IPC_STAT, &ds) == 0);
    ds.msg_qbytes = (msglen_t)qbytes;
    T_REQUIRE(msgctl(id, IPC_SET, &ds) == 0);
    struct stats st = { 0, 0, 0, 0, 0, 0, 0 };
    if (!phase(id, label, ntypes, ops, qbytes, &st)) {
        t_failures++;
        return 0;
    }
    t_say("%s: %d ops, model: agrees", label, ops);
    t_say("  sent %ld, EAGAIN %ld, received %ld (truncated %ld), E2BIG %ld, copied %ld, ENOMSG %ld",
          st.sent, st.full, st.received, st.truncated, st.e2big, st.copied, st.nomsg);
    return 1;
}

int main(void)
{
    int id = t_msgget_new("typemodel", 0600, NULL);
    if (run_phase(id, "3 types, qbytes 200", 3, 4000, 200) &&
        run_phase(id, "60 types, qbytes 2000", 60, 6000, 2000) &&
        run_phase(id, "1000 types, qbytes 16384", 1000, 12000, 16384))
        t_say("left in the queue: %d messages", nmodel);
    EXPECT_EQ(msgctl(id, IPC_RMID, NULL), 0);
    return t_finish();
}
