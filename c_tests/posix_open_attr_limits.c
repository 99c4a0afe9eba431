/* mq_open's attr checks at creation: mq_maxmsg up to /proc/sys/fs/mqueue/msg_max and
 * mq_msgsize up to msgsize_max are accepted, one more is EINVAL (without CAP_SYS_RESOURCE,
 * which the test drops from its effective set); zero or negative values are EINVAL. The attr
 * is ignored when the queue exists (O_CREAT with a bad attr succeeds; O_EXCL gives EEXIST, not
 * EINVAL), as are its mq_flags and mq_curmsgs at creation. A NULL attr gives the defaults
 * (min(msg_default, msg_max) / min(msgsize_default, msgsize_max): 10 / 8192 here). */
#include "harness.h"
#include <linux/capability.h>
#include <sys/syscall.h>

static long read_sysctl(const char *path)
{
    FILE *f = fopen(path, "r");
    long v = -1;
    if (f) {
        if (fscanf(f, "%ld", &v) != 1)
            v = -1;
        fclose(f);
    }
    return v;
}

/* Clear CAP_SYS_RESOURCE from the effective set, so that the limits apply to this root too. */
static void drop_cap_sys_resource(void)
{
    struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
    struct __user_cap_data_struct d[2];
    T_REQUIRE(syscall(SYS_capget, &h, d) == 0);
    d[CAP_TO_INDEX(CAP_SYS_RESOURCE)].effective &= ~CAP_TO_MASK(CAP_SYS_RESOURCE);
    T_REQUIRE(syscall(SYS_capset, &h, d) == 0);
}

static int ncase;

/* Try to create a fresh queue with the attr; report; remove it if it was created. */
static void create(const char *label, long maxmsg, long msgsize, int want_errno)
{
    char tag[16];
    snprintf(tag, sizeof tag, "attr%d", ncase++);
    const char *name = t_qname(tag);
    struct mq_attr attr = { .mq_maxmsg = maxmsg, .mq_msgsize = msgsize };
    errno = 0;
    mqd_t q = mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0600, &attr);
    int e = errno;
    printf("%s -> %s", label, q == (mqd_t)-1 ? t_errno_name(e) : "ok");
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

static void show(const char *label, mqd_t q)
{
    struct mq_attr a;
    EXPECT_EQ(mq_getattr(q, &a), 0);
    t_say("%s: flags %s maxmsg %ld msgsize %ld curmsgs %ld", label,
          a.mq_flags == 0 ? "0" : a.mq_flags == O_NONBLOCK ? "O_NONBLOCK" : "other",
          a.mq_maxmsg, a.mq_msgsize, a.mq_curmsgs);
}

int main(void)
{
    long msg_max = read_sysctl("/proc/sys/fs/mqueue/msg_max");
    long msgsize_max = read_sysctl("/proc/sys/fs/mqueue/msgsize_max");
    T_REQUIRE(msg_max > 0 && msgsize_max > 0);
    drop_cap_sys_resource();

    t_say("-- creating");
    create("maxmsg msg_max, msgsize 16", msg_max, 16, 0);
    create("maxmsg msg_max+1, msgsize 16", msg_max + 1, 16, EINVAL);
    create("maxmsg 1, msgsize msgsize_max", 1, msgsize_max, 0);
    create("maxmsg 1, msgsize msgsize_max+1", 1, msgsize_max + 1, EINVAL);
    create("maxmsg msg_max, msgsize msgsize_max", msg_max, msgsize_max, 0);
    create("maxmsg 0, msgsize 16", 0, 16, EINVAL);
    create("maxmsg -1, msgsize 16", -1, 16, EINVAL);
    create("maxmsg 1, msgsize 0", 1, 0, EINVAL);
    create("maxmsg 1, msgsize -1", 1, -1, EINVAL);
    create("maxmsg 0, msgsize 0", 0, 0, EINVAL);

    t_say("-- mq_flags and mq_curmsgs of the attr are ignored at creation");
    const char *name = t_qname("attrexist");
    struct mq_attr odd = { .mq_flags = O_NONBLOCK, .mq_maxmsg = 2, .mq_msgsize = 16,
                           .mq_curmsgs = 5 };
    mqd_t q = EXPECT_OK(mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0600, &odd));
    T_REQUIRE(q != (mqd_t)-1);
    show("created", q);

    t_say("-- the attr is ignored when the queue exists");
    struct mq_attr zero = { .mq_maxmsg = 0, .mq_msgsize = 0 };
    struct mq_attr over = { .mq_maxmsg = msg_max + 1, .mq_msgsize = msgsize_max + 1 };
    struct mq_attr neg = { .mq_maxmsg = -1, .mq_msgsize = -1 };
    mqd_t a = EXPECT_OK(mq_open(name, O_RDWR | O_CREAT, 0600, &zero));
    mqd_t b = EXPECT_OK(mq_open(name, O_RDWR | O_CREAT, 0600, &over));
    mqd_t c = EXPECT_OK(mq_open(name, O_RDWR | O_CREAT, 0600, &neg));
    if (b != (mqd_t)-1)
        show("opened with maxmsg msg_max+1, msgsize msgsize_max+1", b);
    EXPECT_ERR(mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0600, &zero), EEXIST);
    if (a != (mqd_t)-1)
        mq_close(a);
    if (b != (mqd_t)-1)
        mq_close(b);
    if (c != (mqd_t)-1)
        mq_close(c);
    EXPECT_EQ(mq_close(q), 0);
    EXPECT_EQ(mq_unlink(name), 0);

    t_say("-- NULL attr");
    const char *dname = t_qname("attrnull");
    q = EXPECT_OK(mq_open(dname, O_RDWR | O_CREAT | O_EXCL, 0600, NULL));
    T_REQUIRE(q != (mqd_t)-1);
    show("defaults", q);
    EXPECT_EQ(mq_close(q), 0);
    EXPECT_EQ(mq_unlink(dname), 0);
    return t_finish();
}
