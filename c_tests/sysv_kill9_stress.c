/* Kill -9 stress: three senders and three receivers work one SysV queue (qbytes 600, so it is
 * often full) while the parent repeatedly SIGKILLs a random child at a random moment and starts
 * a replacement. Every message carries (sender, seq, payload length, checksum), a payload of
 * varying length and an mtype derived from them (1..5); receivers select in every way —
 * msgtyp 0, a type, a type with MSG_EXCEPT, a negative type — and log each message to a pipe
 * as soon as they have it. At the end the parent kills the rest, drains the queue and checks:
 * no message was received twice, every message was intact and of the type it was sent with,
 * the children died only by SIGKILL, and the queue still works (IPC_STAT agrees). Messages
 * lost with a receiver killed before it logged them are allowed.
 *
 * Length: MQT_STRESS_SECONDS (default 1; `make stress` runs it long). Children are killed on
 * purpose, so their calls are cut short: the test is uncounted. */
#include "harness.h"

#define QBYTES 600
#define STRESS_MAXPAYLOAD 120
#define NTYPES 5
#include "mqt_stress.h"

/* A message as msgsnd and msgrcv see it: the mtype, then the text. */
struct typed_msg {
    long mtype;
    struct kill9_msg text;
};

static int id;

static long type_of(uint32_t sender, uint32_t seq)
{
    return 1 + (long)(stress_mix(2, (uint32_t[]){ seq, sender }) % NTYPES);
}

/* Is this received message intact, of the type it was sent with? */
static int intact(const struct typed_msg *w, long n)
{
    return kill9_intact(&w->text, n) && w->mtype == type_of(w->text.sender, w->text.seq);
}

static int send_typed(const struct kill9_msg *m)
{
    struct typed_msg w = { type_of(m->sender, m->seq), *m };
    return msgsnd(id, &w, KILL9_HDR + m->len, 0);
}

/* Receives select in every way, in turn from a random start: msgtyp 0, a type, a type with
 * MSG_EXCEPT, a negative type. */
static long receive_typed(unsigned i, uint32_t salt, struct kill9_msg *m, int *ok)
{
    struct typed_msg w;
    memset(&w, 0, sizeof w);
    long msgtyp = 0;
    int flags = 0;
    switch ((i + salt) % 4) {
    case 0: msgtyp = 0; break;
    case 1: msgtyp = 1 + (long)((i / 4) % NTYPES); break;
    case 2: msgtyp = 1 + (long)((i / 4) % NTYPES); flags = MSG_EXCEPT; break;
    case 3: msgtyp = -(long)(1 + (i / 4) % NTYPES); break;
    }
    long n = msgrcv(id, &w, KILL9_HDR + STRESS_MAXPAYLOAD, msgtyp, flags);
    *m = w.text;
    *ok = intact(&w, n) && (msgtyp == 0 ||
                            (msgtyp > 0 && !flags && w.mtype == msgtyp) ||
                            (msgtyp > 0 && flags && w.mtype != msgtyp) ||
                            (msgtyp < 0 && w.mtype <= -msgtyp));
    return n;
}

static const struct kill9_queue sysv_queue = { .send = send_typed, .receive = receive_typed };

int main(void)
{
    t_uncounted();
    id = t_msgget_new("kill9", 0600, NULL);
    struct msqid_ds ds;
    T_REQUIRE(msgctl(id, IPC_STAT, &ds) == 0);
    ds.msg_qbytes = QBYTES;
    T_REQUIRE(msgctl(id, IPC_SET, &ds) == 0);
    kill9_run(&sysv_queue);

    /* Drain what is left, checking that IPC_STAT's counts follow. */
    long left = 0, mismatched_counts = 0;
    for (;;) {
        struct msqid_ds before;
        if (msgctl(id, IPC_STAT, &before) != 0)
            break;
        struct typed_msg w;
        memset(&w, 0, sizeof w);
        long n = msgrcv(id, &w, KILL9_HDR + STRESS_MAXPAYLOAD, 0, IPC_NOWAIT);
        if (n < 0) {
            if (errno != ENOMSG) {
                t_say("draining: msgrcv -> -1 %s  !! MISMATCH", t_errno_name(errno));
                t_failures++;
            }
            if (before.msg_qnum != 0 || before.__msg_cbytes != 0)
                mismatched_counts++;
            break;
        }
        struct msqid_ds after;
        if (msgctl(id, IPC_STAT, &after) != 0 || after.msg_qnum + 1 != before.msg_qnum ||
            after.__msg_cbytes + (unsigned long)n != before.__msg_cbytes)
            mismatched_counts++;
        left++;
        kill9_note(w.text.sender, w.text.seq, intact(&w, n));
    }

    kill9_verdicts();
    t_check("IPC_STAT counts followed the drain", mismatched_counts == 0);
    t_check("children ended only by SIGKILL", kill9.unexpected_exits == 0);

    struct t_msg m = { .mtype = 3 }, r;
    memcpy(m.mtext, "final", 5);
    int works = msgctl(id, IPC_STAT, &ds) == 0 && ds.msg_qnum == 0 && ds.__msg_cbytes == 0 &&
                msgsnd(id, &m, 5, IPC_NOWAIT) == 0 &&
                msgrcv(id, &r, sizeof r.mtext, -3, IPC_NOWAIT) == 5 && memcmp(r.mtext, "final", 5) == 0 &&
                r.mtype == 3 && msgrcv(id, &r, sizeof r.mtext, 0, IPC_NOWAIT) == -1 && errno == ENOMSG;
    t_check("queue works", works);
    if (t_failures)
        fprintf(stderr, "sysv kill9 stress: seed %#llx, %ld kills, %ld messages received, %ld drained\n",
                (unsigned long long)kill9.seed, kill9.kills, kill9.received, left);

    msgctl(id, IPC_RMID, NULL);
    return t_finish();
}
