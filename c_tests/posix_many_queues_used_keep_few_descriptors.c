/* A program that has used many queues, and closed them all, has few descriptors it did not
 * open. The emulation keeps a process's lately used queues mapped (so that opening one again
 * is cheap), and holds the FIFO of some of them open, above the program's own descriptors:
 * each of those counts against the program's RLIMIT_NOFILE, which the kernel's queues do not
 * touch. At most one in 64 of what the soft limit allows may be held, and 8 whatever the
 * limit (libmqshim(7), Limits): here, with the soft limit at 1024, 16, however many queues
 * were used: 40, each created, opened again twice, and closed. The kernel keeps none. */
#include "harness.h"
#include <dirent.h>
#include <sys/resource.h>

#define QUEUES 40
#define SOFT_NOFILE 1024
#define HELD_AT_MOST (SOFT_NOFILE / 64)

static int open_descriptors(void)
{
    DIR *d = opendir("/proc/self/fd");
    T_REQUIRE(d != NULL);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1;               /* the directory's own */
}

int main(void)
{
    /* Lowered, never raised (the hard limit is left alone): allowed to any process whose
     * hard limit is at least that. */
    struct rlimit nofile;
    T_REQUIRE(getrlimit(RLIMIT_NOFILE, &nofile) == 0);
    T_REQUIRE(nofile.rlim_max == RLIM_INFINITY || nofile.rlim_max >= SOFT_NOFILE);
    nofile.rlim_cur = SOFT_NOFILE;
    T_REQUIRE(setrlimit(RLIMIT_NOFILE, &nofile) == 0);
    /* What the library opens once for itself (its namespace's directories, say) is counted
     * before: one queue made, used and removed first. */
    EXPECT_OK(mq_close(t_mq_create("first", 1, 16, 0)));
    EXPECT_OK(mq_unlink(t_qname("first")));
    int before = open_descriptors();
    for (int i = 0; i < QUEUES; i++) {
        char tag[16];
        snprintf(tag, sizeof tag, "q%d", i);
        EXPECT_OK(mq_close(t_mq_create(tag, 1, 16, 0)));
    }
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < QUEUES; i++) {
            char tag[16];
            snprintf(tag, sizeof tag, "q%d", i);
            mqd_t q = mq_open(t_qname(tag), O_RDWR);
            T_REQUIRE(q != (mqd_t)-1);
            EXPECT_OK(mq_close(q));
        }
    int kept = open_descriptors() - before;
    t_say("descriptors kept after %d queues: at most %d: %s", QUEUES, HELD_AT_MOST, kept <= HELD_AT_MOST ? "yes" : "no");
    if (kept > HELD_AT_MOST)
        fprintf(stderr, "kept %d descriptors\n", kept);
    for (int i = 0; i < QUEUES; i++) {
        char tag[16];
        snprintf(tag, sizeof tag, "q%d", i);
        EXPECT_OK(mq_unlink(t_qname(tag)));
    }
    return t_finish();
}
