/* Root in a user namespace of its own (a rootless container's root) has CAP_SYS_RESOURCE only
 * in that namespace; the kernel checks mq_open's limits with capable(CAP_SYS_RESOURCE), i.e.
 * in the initial user namespace, so msg_max and msgsize_max (4 and 256 here) still apply to
 * it: 4 x 256 is created, 5 x 16 and 1 x 257 are EINVAL. Every configuration runs the phase
 * as root of a fresh user + IPC namespace (capget shows CAP_SYS_RESOURCE there): the kernel
 * with the limits written to the namespace's sysctls, mqshim with MQSHIM_LIMITS (the
 * namespace's own sysctls keep their defaults, 10 x 8192, so only mqshim's enforcement can
 * refuse 5 x 16). */
#include "harness.h"
#include "mqt_limits.h"

static int ncase;

static void create(long maxmsg, long msgsize, int want_errno)
{
    char tag[16];
    snprintf(tag, sizeof tag, "un%d", ncase++);
    const char *name = t_qname(tag);
    struct mq_attr attr = { .mq_maxmsg = maxmsg, .mq_msgsize = msgsize };
    errno = 0;
    mqd_t q = mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0600, &attr);
    int e = errno;
    printf("create %ld x %ld -> %s", maxmsg, msgsize, q == (mqd_t)-1 ? t_errno_name(e) : "ok");
    if (want_errno ? !(q == (mqd_t)-1 && e == want_errno) : q == (mqd_t)-1) {
        t_failures++;
        printf("  !! MISMATCH: expected %s", want_errno ? t_errno_name(want_errno) : "ok");
    }
    printf("\n");
    if (q != (mqd_t)-1) {
        mq_close(q);
        mq_unlink(name);
    }
}

static void body(void)
{
    struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
    struct __user_cap_data_struct d[2];
    T_REQUIRE(syscall(SYS_capget, &h, d) == 0);
    t_check("CAP_SYS_RESOURCE is in the effective set (of the user namespace)",
            (d[CAP_TO_INDEX(CAP_SYS_RESOURCE)].effective & CAP_TO_MASK(CAP_SYS_RESOURCE)) != 0);
    create(4, 256, 0);
    create(5, 16, EINVAL);
    create(1, 257, EINVAL);
    create(11, 16, EINVAL);
}

int main(int argc, char **argv)
{
    static const struct lim_phase phases[] = {
        { "msg_max=4,msgsize_max=256", body, LIM_USERNS_ROOT },
    };
    return lim_main(argc, argv, phases, 1);
}
