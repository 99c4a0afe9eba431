/* mqt: skip-config shim-redis */
/* (Not under the Redis backend, whose descriptors take no fchmod.)
 * A descriptor that mq_open gave keeps working however the name is unlinked and made again
 * meanwhile: on the kernel it holds the queue's inode, so fchmod of it succeeds (a queue
 * descriptor is a file descriptor), unlinked or not.
 *
 * One process opens a name, changes the mode through its descriptor twice, and closes it,
 * OPENS times; two others unlink the name and create it again, over and over, until the first
 * is done. The transcript says whether any fchmod failed.
 *
 * Shown failing on the code before (on tmpfs, the namespace's default home: 3008 failures in
 * 34 848 opens by hand, one opener against one unlinker): an opener could get a descriptor of
 * a queue that its unlinker, having found it unused a moment before, was destroying; and an
 * unlinker that found the queue and then renamed what the name named by then (another
 * unlinker had moved the one found, and a creator made a new one) filed the new one under the
 * old one's entry name. fchmod of such descriptors found no queue: ENOENT. */
#include "harness.h"
#include <sys/mman.h>
#include <sys/stat.h>

#define OPENS 6000
#define UNLINKERS 2

struct shared {
    volatile int done;
    volatile long failed;
    volatile int last_errno;
};

int main(void)
{
    const char *name = t_qname("race");
    struct mq_attr a = { 0 };
    a.mq_maxmsg = 4;
    a.mq_msgsize = 32;
    mqd_t q0 = mq_open(name, O_RDWR | O_CREAT, 0600, &a);
    T_REQUIRE(q0 != (mqd_t)-1);
    T_REQUIRE(mq_close(q0) == 0);
    struct shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    T_REQUIRE(sh != MAP_FAILED);

    pid_t unlinker[UNLINKERS];
    for (int u = 0; u < UNLINKERS; u++) {
        unlinker[u] = t_fork();
        if (unlinker[u] == 0) {
            while (!sh->done) {
                mq_unlink(name);
                mqd_t q = mq_open(name, O_RDWR | O_CREAT, 0600, &a);
                if (q != (mqd_t)-1)
                    mq_close(q);
            }
            exit(0);
        }
    }
    pid_t opener = t_fork();
    if (opener == 0) {
        for (int i = 0; i < OPENS; i++) {
            mqd_t q = mq_open(name, O_RDWR);
            if (q == (mqd_t)-1)
                continue;
            for (int k = 0; k < 2; k++)
                if (fchmod(q, k ? 0600 : 0640) != 0) {
                    sh->failed++;
                    sh->last_errno = errno;
                }
            mq_close(q);
        }
        exit(0);
    }
    int opener_rc = t_reap(opener);
    sh->done = 1;
    for (int u = 0; u < UNLINKERS; u++)
        EXPECT_OK(t_reap(unlinker[u]));
    t_say("opener exit: %d", opener_rc);
    if (sh->failed)
        fprintf(stderr, "last failed fchmod: %s\n", t_errno_name(sh->last_errno));
    t_say("failed fchmod of an open descriptor: %ld", (long)sh->failed);
    if (sh->failed)
        t_failures++;
    mq_unlink(name);
    return t_finish();
}
