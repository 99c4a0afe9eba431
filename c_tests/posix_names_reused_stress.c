/* Names made, opened and unlinked over and over by several processes: an open of a name reaches
 * that name's queue and no other, even as the emulation gives a destroyed queue's directory,
 * FIFO and segment to its creator's next queue (see src/emu/posix/spare.rs). Three workers each
 * loop: create one of its two names (alternately, same attributes, so one's directory serves
 * the other), send a message naming (worker, name), open the next worker's name of the same
 * parity non-blocking (ENOENT when it is not there), receive one message from it (EAGAIN when
 * empty) and check that it names that worker and name, close both, unlink its own. Verdicts:
 * every call had a result the kernel gives there; no message came from a queue of another name;
 * nothing is left in the namespace once the workers have exited.
 *
 * Length: MQT_STRESS_SECONDS (default 1; `make stress` runs it long). Uncounted: the workers'
 * calls depend on timing. */
#include "harness.h"
#include "mqt_fault.h"
#include <sys/mman.h>

#define STRESS_MAXPAYLOAD 8
#include "mqt_stress.h"

#define WORKERS 3
#define NAMES 2

struct note {
    uint32_t worker, name, iter;
};

struct tally {
    long iterations[WORKERS];
    long received[WORKERS];
    long foreign[WORKERS];              /* a message naming another worker or name */
    long unexpected[WORKERS];           /* a result the kernel does not give there */
    int last_errno[WORKERS];
};

static char names[WORKERS][NAMES][64];

static void unexpected(struct tally *t, int w, int e)
{
    t->unexpected[w]++;
    t->last_errno[w] = e;
}

static void worker(struct tally *t, int w, long long end)
{
    struct mq_attr a = { .mq_maxmsg = 4, .mq_msgsize = sizeof(struct note) };
    for (uint32_t iter = 0; stress_now_ns() < end; iter++) {
        int own = (int)(iter % NAMES);
        mqd_t q = mq_open(names[w][own], O_RDWR | O_CREAT | O_EXCL | O_NONBLOCK, 0600, &a);
        if (q == (mqd_t)-1) {
            unexpected(t, w, errno);
            mq_unlink(names[w][own]);
            continue;
        }
        struct note n = { (uint32_t)w, (uint32_t)own, iter };
        if (mq_send(q, (const char *)&n, sizeof n, 0) != 0)
            unexpected(t, w, errno);
        int other = (w + 1) % WORKERS;
        mqd_t o = mq_open(names[other][own], O_RDWR | O_NONBLOCK);
        if (o != (mqd_t)-1) {
            struct note r;
            ssize_t got = mq_receive(o, (char *)&r, sizeof r, NULL);
            if (got == (ssize_t)sizeof r) {
                t->received[w]++;
                if (r.worker != (uint32_t)other || r.name != (uint32_t)own)
                    t->foreign[w]++;
            } else if (!(got < 0 && errno == EAGAIN)) {
                unexpected(t, w, got < 0 ? errno : 0);
            }
            if (mq_close(o) != 0)
                unexpected(t, w, errno);
        } else if (errno != ENOENT) {
            unexpected(t, w, errno);
        }
        if (mq_close(q) != 0 || mq_unlink(names[w][own]) != 0)
            unexpected(t, w, errno);
        t->iterations[w]++;
    }
    exit(0);
}

int main(void)
{
    t_uncounted();
    const char *ns = fault_namespace();
    for (int w = 0; w < WORKERS; w++)
        for (int k = 0; k < NAMES; k++) {
            char tag[32];
            snprintf(tag, sizeof tag, "reused-%d-%d", w, k);
            snprintf(names[w][k], sizeof names[w][k], "%s", t_qname(tag));
        }
    /* The namespace as it is once used (its directories, the charge file). */
    mqd_t first = t_mq_create("reused-first", 4, sizeof(struct note), 0);
    T_REQUIRE(mq_close(first) == 0 && mq_unlink(t_qname("reused-first")) == 0);
    long baseline = fault_count_entries(ns);
    struct tally *t = mmap(NULL, sizeof *t, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    T_REQUIRE(t != MAP_FAILED);
    memset(t, 0, sizeof *t);
    long long end = stress_now_ns() + (long long)(stress_seconds() * 1e9);
    /* The watchdogs (the parent's and each child's) allow for the run's length. */
    unsigned budget = t_timeout_seconds() + (unsigned)stress_seconds();
    alarm(budget);
    pid_t kids[WORKERS];
    for (int w = 0; w < WORKERS; w++) {
        kids[w] = t_fork();
        if (kids[w] == 0) {
            alarm(budget);
            worker(t, w, end);
        }
    }
    int clean = 1;
    for (int w = 0; w < WORKERS; w++)
        clean &= t_reap(kids[w]) == 0;
    long iterations = 0, received = 0, foreign = 0, bad = 0;
    for (int w = 0; w < WORKERS; w++) {
        iterations += t->iterations[w];
        received += t->received[w];
        foreign += t->foreign[w];
        bad += t->unexpected[w];
        if (t->unexpected[w])
            fprintf(stderr, "worker %d: %ld unexpected results, the last %s\n", w, t->unexpected[w],
                    t_errno_name(t->last_errno[w]));
    }
    fprintf(stderr, "%ld iterations, %ld messages received from the other workers' queues\n", iterations,
            received);
    t_check("the workers exited cleanly", clean);
    t_check("every call had a result the kernel gives there", bad == 0);
    t_check("no message came from a queue of another name", foreign == 0);
    long left = fault_count_entries(ns) - baseline;
    t_say("leftovers: %ld", left);
    if (left != 0)
        t_failures++;
    munmap(t, sizeof *t);
    return t_finish();
}
