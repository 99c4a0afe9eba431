/* RLIMIT_MSGQUEUE: creating a queue charges its owner's real uid
 * maxmsg*msgsize + maxmsg*overhead bytes (overhead 96 on this x86_64 kernel: one msg_msg and
 * one priority-tree node per slot), and a create that would take the user's total above the
 * caller's soft limit fails with EMFILE. The test runs in a child that became a fresh uid
 * (derived from the run id, so nothing else is charged to it). It first measures the smallest
 * limit that admits a queue of a few shapes and prints whether it matches the formula (not
 * the numbers), then checks the boundary exactly: one byte short is EMFILE, exactly enough
 * succeeds, and with the limit full the next create is EMFILE. The charge is released at the
 * last close of an unlinked queue, not at mq_unlink and not at the first close. */
#include "harness.h"
#include <sys/resource.h>

#define OVERHEAD 96

static const char *probe_name, *a_name, *b_name, *c_name;

static long cost(long maxmsg, long msgsize)
{
    return maxmsg * msgsize + maxmsg * OVERHEAD;
}

static void set_limit(rlim_t soft)
{
    struct rlimit rl;
    T_REQUIRE(getrlimit(RLIMIT_MSGQUEUE, &rl) == 0);
    rl.rlim_cur = soft;
    T_REQUIRE(setrlimit(RLIMIT_MSGQUEUE, &rl) == 0);
}

static mqd_t create(const char *name, long maxmsg, long msgsize)
{
    struct mq_attr attr = { .mq_maxmsg = maxmsg, .mq_msgsize = msgsize };
    return mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0600, &attr);
}

/* Does a maxmsg x msgsize queue fit under `limit` (nothing else charged)? */
static int fits(long limit, long maxmsg, long msgsize)
{
    set_limit((rlim_t)limit);
    mqd_t q = create(probe_name, maxmsg, msgsize);
    if (q == (mqd_t)-1) {
        if (errno != EMFILE) {
            t_say("probe create failed with %s  !! MISMATCH: expected EMFILE", t_errno_name(errno));
            t_failures++;
        }
        return 0;
    }
    mq_unlink(probe_name);
    mq_close(q);                    /* the last close releases the charge */
    return 1;
}

/* The smallest limit that admits the shape (binary search). */
static void measure(long maxmsg, long msgsize, long hard)
{
    long lo = 1, hi = hard;
    if (!fits(hi, maxmsg, msgsize)) {
        t_say("%ldx%ld: does not fit under the hard limit  !! MISMATCH", maxmsg, msgsize);
        t_failures++;
        return;
    }
    while (lo < hi) {
        long mid = lo + (hi - lo) / 2;
        if (fits(mid, maxmsg, msgsize))
            hi = mid;
        else
            lo = mid + 1;
    }
    t_say("%ldx%ld queue: smallest admitting limit is maxmsg*msgsize + %d*maxmsg: %s",
          maxmsg, msgsize, OVERHEAD, lo == cost(maxmsg, msgsize) ? "yes" : "no");
}

static mqd_t expect_create(const char *label, const char *name, long maxmsg, long msgsize,
                           int want_errno)
{
    errno = 0;
    mqd_t q = create(name, maxmsg, msgsize);
    int e = errno;
    printf("%s -> %s", label, q == (mqd_t)-1 ? t_errno_name(e) : "ok");
    if (want_errno ? !(q == (mqd_t)-1 && e == want_errno) : q == (mqd_t)-1) {
        t_failures++;
        printf("  !! MISMATCH: expected %s", want_errno ? t_errno_name(want_errno) : "ok");
    }
    printf("\n");
    return q;
}

int main(void)
{
    probe_name = t_qname("rlprobe");
    a_name = t_qname("rlA");
    b_name = t_qname("rlB");
    c_name = t_qname("rlC");
    uid_t uid = 60000 + t_fnv1a(t_runid, 2166136261u) % 5000;
    /* One call as root before the child drops its privileges: a library that opens files on
     * its first call (a trace file, say) then opens them with root's rights. */
    EXPECT_ERR(mq_unlink(probe_name), ENOENT);

    t_child c = t_spawn();
    if (c.pid == 0) {
        t_become(uid);
        t_say("child runs as a fresh uid");
        struct rlimit rl;
        T_REQUIRE(getrlimit(RLIMIT_MSGQUEUE, &rl) == 0);
        long hard = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > 4000000 ? 4000000
                                                                        : (long)rl.rlim_max;
        T_REQUIRE(hard >= cost(10, 8192));

        t_say("-- measured boundaries");
        measure(1, 1, hard);
        measure(4, 100, hard);
        measure(3, 1000, hard);
        measure(10, 8192, hard);

        /* A: 4 x 100, B and C: 1 x 1 */
        long ca = cost(4, 100), cb = cost(1, 1);
        t_say("-- the boundary (A: 4x100, B and C: 1x1)");
        set_limit((rlim_t)(ca - 1));
        expect_create("limit = cost(A) - 1: create A", a_name, 4, 100, EMFILE);
        set_limit((rlim_t)ca);
        mqd_t a = expect_create("limit = cost(A): create A", a_name, 4, 100, 0);
        expect_create("  then create B", b_name, 1, 1, EMFILE);
        set_limit((rlim_t)(ca + cb));
        mqd_t b = expect_create("limit = cost(A) + cost(B): create B", b_name, 1, 1, 0);
        expect_create("  then create C", c_name, 1, 1, EMFILE);

        t_say("-- release at the last close, not at unlink");
        mqd_t a2 = EXPECT_OK(mq_open(a_name, O_RDONLY));
        EXPECT_EQ(mq_unlink(a_name), 0);
        expect_create("A unlinked, two descriptors open: create C", c_name, 1, 1, EMFILE);
        EXPECT_EQ(mq_close(a), 0);
        expect_create("A unlinked, one descriptor open: create C", c_name, 1, 1, EMFILE);
        EXPECT_EQ(mq_close(a2), 0);
        mqd_t cq = expect_create("A unlinked and closed: create C", c_name, 1, 1, 0);
        expect_create("  and A no longer fits: create A", a_name, 4, 100, EMFILE);

        if (cq != (mqd_t)-1)
            mq_close(cq);
        if (b != (mqd_t)-1)
            mq_close(b);
        EXPECT_EQ(mq_unlink(b_name), 0);
        EXPECT_EQ(mq_unlink(c_name), 0);
        exit(t_child_status());
    }
    t_join(&c, 0);
    /* Nothing should be left; quietly remove whatever a failed child left behind. */
    mq_unlink(probe_name);
    mq_unlink(a_name);
    mq_unlink(b_name);
    mq_unlink(c_name);
    return t_finish();
}
