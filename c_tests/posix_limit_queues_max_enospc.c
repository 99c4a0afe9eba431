/* mqt: skip-config shim-kernel */
/* queues_max = 3: in a namespace with no queue (a fresh IPC namespace on the kernel, a fresh
 * MQSHIM_DIR under emulation) three creates succeed and the fourth is ENOSPC, exactly at the
 * boundary; a NULL-attr create too. At the limit an existing queue still opens (O_CREAT
 * without O_EXCL creates nothing), and O_CREAT|O_EXCL on an existing name is EEXIST, not
 * ENOSPC. A queue counts until it is gone, not until it is unlinked: unlinked but still open
 * it keeps its place (create still ENOSPC); after its last close a create succeeds again.
 *
 * Skipped under shim-kernel (the runner reports it as skipped, never passed): mqshim enforces
 * queues_max in front of the kernel only when the mqueue filesystem is mounted at /dev/mqueue
 * (the only place the namespace's queue count can be read — src/policy/enforce.rs); it is not
 * mounted on this machine, so the kernel's own queues_max (256) would apply and the fourth
 * create would succeed. */
#include "harness.h"
#include "mqt_limits.h"

static mqd_t create(const char *tag, int want_errno)
{
    const char *name = t_qname(tag);
    struct mq_attr attr = { .mq_maxmsg = 2, .mq_msgsize = 16 };
    errno = 0;
    mqd_t q = mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0600, &attr);
    int e = errno;
    printf("create %s -> %s", tag, q == (mqd_t)-1 ? t_errno_name(e) : "ok");
    if (want_errno ? !(q == (mqd_t)-1 && e == want_errno) : q == (mqd_t)-1) {
        t_failures++;
        printf("  !! MISMATCH: expected %s", want_errno ? t_errno_name(want_errno) : "ok");
    }
    printf("\n");
    return q;
}

static void body(void)
{
    t_say("-- up to the limit");
    mqd_t a = create("qa", 0);
    mqd_t b = create("qb", 0);
    mqd_t c = create("qc", 0);
    mqd_t d = create("qd", ENOSPC);
    const char *e_name = t_qname("qe");
    EXPECT_ERR(mq_open(e_name, O_RDWR | O_CREAT | O_EXCL, 0600, NULL), ENOSPC);
    EXPECT_ERR(mq_open(e_name, O_RDWR | O_CREAT, 0600, NULL), ENOSPC);

    t_say("-- at the limit, existing queues still open");
    mqd_t a2 = EXPECT_OK(mq_open(t_qname("qa"), O_RDWR | O_CREAT, 0600, NULL));
    mqd_t a3 = EXPECT_OK(mq_open(t_qname("qa"), O_RDONLY));
    EXPECT_ERR(mq_open(t_qname("qa"), O_RDWR | O_CREAT | O_EXCL, 0600, NULL), EEXIST);

    t_say("-- an unlinked queue counts until its last close");
    EXPECT_EQ(mq_unlink(t_qname("qa")), 0);
    d = create("qd", ENOSPC);
    if (a != (mqd_t)-1)
        EXPECT_EQ(mq_close(a), 0);
    if (a2 != (mqd_t)-1)
        EXPECT_EQ(mq_close(a2), 0);
    d = create("qd", ENOSPC);
    if (a3 != (mqd_t)-1)
        EXPECT_EQ(mq_close(a3), 0);
    d = create("qd", 0);
    mqd_t e = create("qe", ENOSPC);

    t_say("-- cleanup");
    mqd_t qs[] = { b, c, d, e };
    for (int i = 0; i < 4; i++)
        if (qs[i] != (mqd_t)-1)
            mq_close(qs[i]);
    EXPECT_EQ(mq_unlink(t_qname("qb")), 0);
    EXPECT_EQ(mq_unlink(t_qname("qc")), 0);
    EXPECT_EQ(mq_unlink(t_qname("qd")), 0);
    EXPECT_ERR(mq_unlink(t_qname("qe")), ENOENT);
}

int main(int argc, char **argv)
{
    static const struct lim_phase phases[] = { { "queues_max=3", body, LIM_UNPRIVILEGED } };
    return lim_main(argc, argv, phases, 1);
}
