/* RLIMIT_MSGQUEUE of 881 bytes = cost(4 x 100) + cost(1 x 1), where a queue costs
 * maxmsg*msgsize + 96*maxmsg (see posix_rlimit_msgqueue_emfile.c): with the 4 x 100 queue
 * (784) created, a 1 x 2 queue (98: one byte over) is EMFILE, a 1 x 1 queue (97: exactly at the
 * limit) succeeds, and then another 1 x 1 is EMFILE. The charge of an unlinked queue stays
 * until its last close. Kernel: a child that became a fresh uid (nothing else charged to it)
 * with setrlimit(RLIMIT_MSGQUEUE, 881); mqshim: the same child with
 * MQSHIM_LIMITS=rlimit_msgqueue=881 given to the process (no setrlimit by the test). The uid
 * switch is in every configuration: it isolates the kernel's per-user accounting. */
#include "harness.h"
#include "mqt_limits.h"

#define OVERHEAD 96
#define LIMIT_SPEC "rlimit_msgqueue=881"

static long cost(long maxmsg, long msgsize)
{
    return maxmsg * msgsize + maxmsg * OVERHEAD;
}

static mqd_t create(const char *tag, long maxmsg, long msgsize, int want_errno)
{
    const char *name = t_qname(tag);
    struct mq_attr attr = { .mq_maxmsg = maxmsg, .mq_msgsize = msgsize };
    errno = 0;
    mqd_t q = mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0600, &attr);
    int e = errno;
    printf("create %s (%ld x %ld, cost %ld) -> %s", tag, maxmsg, msgsize, cost(maxmsg, msgsize),
           q == (mqd_t)-1 ? t_errno_name(e) : "ok");
    lim_end_create_line(q, e, want_errno);
    return q;
}

int main(int argc, char **argv)
{
    (void)argc;
    int shim = lim_rlimit_reexec(LIMIT_SPEC, argv);
    long limit = cost(4, 100) + cost(1, 1);
    T_REQUIRE(limit == 881);
    t_say("-- limit %s", LIMIT_SPEC);
    uid_t uid = 70000 + t_fnv1a(t_runid, 2166136261u) % 5000;
    /* One call as root first: mqshim opens its trace file and namespace with root's rights. */
    EXPECT_ERR(mq_unlink(t_qname("rlA")), ENOENT);

    t_child c = t_spawn();
    if (c.pid == 0) {
        lim_become_uid(uid);
        t_say("child runs as a fresh uid");
        if (!shim)
            lim_set_rlimit_msgqueue(limit);
        mqd_t a = create("rlA", 4, 100, 0);
        create("rlX", 1, 2, EMFILE);
        mqd_t b = create("rlB", 1, 1, 0);
        create("rlC", 1, 1, EMFILE);

        t_say("-- the charge stays until the last close of an unlinked queue");
        EXPECT_EQ(mq_unlink(t_qname("rlB")), 0);
        create("rlC", 1, 1, EMFILE);
        if (b != (mqd_t)-1)
            EXPECT_EQ(mq_close(b), 0);
        mqd_t cq = create("rlC", 1, 1, 0);
        create("rlX", 1, 2, EMFILE);

        if (cq != (mqd_t)-1)
            EXPECT_EQ(mq_close(cq), 0);
        if (a != (mqd_t)-1)
            EXPECT_EQ(mq_close(a), 0);
        EXPECT_EQ(mq_unlink(t_qname("rlA")), 0);
        EXPECT_EQ(mq_unlink(t_qname("rlC")), 0);
        EXPECT_ERR(mq_unlink(t_qname("rlX")), ENOENT);
        exit(t_child_status());
    }
    t_join(&c, 0);
    return t_finish();
}
