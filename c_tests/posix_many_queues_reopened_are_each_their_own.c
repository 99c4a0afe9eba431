/* A program that goes round many queues finds in each its own messages, and under a name
 * another process replaced meanwhile the new queue (or none). The emulation keeps the last 256
 * queues a process used mapped, and opens one of those again by its FIFO's second name, which
 * only that very queue has (libmqshim(7), Limits): here 200 queues, more than it kept before
 * (64). Each gets a message naming it; a child then replaces one queue by a new one under the
 * same name, with another message, and removes another; the parent goes round all of them
 * three times, receiving each message and sending it back. In a namespace of its own (a fresh
 * IPC namespace on the kernel), so that other tests' queues do not count against queues_max. */
#define T_MAX_OBJS 256
#include "harness.h"
#include "mqt_limits.h"

#define QUEUES 200
#define REPLACED 10
#define REMOVED 20

static const char *tag_of(int i)
{
    static char tag[16];
    snprintf(tag, sizeof tag, "q%d", i);
    return tag;
}

/* One round: every queue opened, its message received (it must be `want`'s) and sent back. */
static void round_of_all(int round)
{
    int as_expected = 0, missing = 0, wrong = 0;
    for (int i = 0; i < QUEUES; i++) {
        mqd_t q = mq_open(t_qname(tag_of(i)), O_RDWR | O_NONBLOCK);
        if (q == (mqd_t)-1) {
            if (errno == ENOENT && i == REMOVED)
                missing++;
            else
                wrong++;
            continue;
        }
        char want[32], got[64];
        snprintf(want, sizeof want, i == REPLACED ? "new %d" : "message %d", i);
        unsigned prio = 0;
        ssize_t n = mq_receive(q, got, sizeof got, &prio);
        if (n == (ssize_t)strlen(want) && memcmp(got, want, (size_t)n) == 0 && prio == (unsigned)(i % 7)) {
            as_expected++;
            if (mq_send(q, got, (size_t)n, prio) != 0)
                wrong++;
        } else {
            wrong++;
        }
        if (mq_close(q) != 0)
            wrong++;
    }
    t_say("round %d: %d queues with their own message, %d removed (ENOENT), %d otherwise", round, as_expected, missing, wrong);
    if (as_expected != QUEUES - 1 || missing != 1 || wrong != 0)
        t_failures++;
}

static void body(void)
{
    for (int i = 0; i < QUEUES; i++) {
        mqd_t q = t_mq_create(tag_of(i), 2, 32, 0);
        char msg[32];
        snprintf(msg, sizeof msg, "message %d", i);
        if (mq_send(q, msg, strlen(msg), (unsigned)(i % 7)) != 0 || mq_close(q) != 0)
            t_failures++;
    }
    /* Opened again once, so that every one was used lately. */
    for (int i = 0; i < QUEUES; i++) {
        mqd_t q = mq_open(t_qname(tag_of(i)), O_RDONLY);
        T_REQUIRE(q != (mqd_t)-1);
        T_REQUIRE(mq_close(q) == 0);
    }

    pid_t child = t_fork();
    if (child == 0) {
        const char *replaced = t_qname(tag_of(REPLACED));
        EXPECT_OK(mq_unlink(replaced));
        /* Other attributes than the queue it replaces: a queue of the same ones could be
         * made in its very files (the child inherited the parent's spare of it). */
        struct mq_attr a = { .mq_maxmsg = 3, .mq_msgsize = 32 };
        mqd_t q = EXPECT_OK(mq_open(replaced, O_RDWR | O_CREAT | O_EXCL, 0600, &a));
        char msg[32];
        snprintf(msg, sizeof msg, "new %d", REPLACED);
        EXPECT_OK(mq_send(q, msg, strlen(msg), REPLACED % 7));
        EXPECT_OK(mq_close(q));
        EXPECT_OK(mq_unlink(t_qname(tag_of(REMOVED))));
        exit(t_finish());
    }
    t_say("child exited with %d", t_reap(child));

    for (int round = 1; round <= 3; round++)
        round_of_all(round);

    for (int i = 0; i < QUEUES; i++)
        if (i != REMOVED && mq_unlink(t_qname(tag_of(i))) != 0)
            t_failures++;
}

int main(int argc, char **argv)
{
    static const struct lim_phase phases[] = { { "queues_max=256", body, LIM_UNPRIVILEGED } };
    return lim_main(argc, argv, phases, 1);
}
