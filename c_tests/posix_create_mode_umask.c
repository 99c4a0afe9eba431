/* mqt: static */
/* mq_open(O_CREAT) applies the creator's umask to the mode, and the queue belongs to the
 * creator. Root creates mode 0666 queues under umask 0077, 0022 and 0: nobody can open none,
 * only O_RDONLY, and everything respectively. nobody creates mode 0600 queues under umask 077
 * and 022 and a mode 0666 queue under umask 022 (0644): root opens them all (CAP_DAC_OVERRIDE),
 * while a third, unrelated uid is refused by 0600 and may only read the 0644 one. */
#include "harness.h"

static uid_t stranger;

static void try_open(const char *label, const char *name, int flags, int want_ok)
{
    errno = 0;
    mqd_t q = mq_open(name, flags);
    int e = errno;
    printf("%s -> %s", label, q == (mqd_t)-1 ? t_errno_name(e) : "ok");
    if (want_ok ? q == (mqd_t)-1 : !(q == (mqd_t)-1 && e == EACCES)) {
        t_failures++;
        printf("  !! MISMATCH: expected %s", want_ok ? "ok" : "EACCES");
    }
    printf("\n");
    if (q != (mqd_t)-1)
        mq_close(q);
}

static void create(const char *label, const char *name, mode_t mask, mode_t mode)
{
    umask(mask);
    struct mq_attr attr = { .mq_maxmsg = 1, .mq_msgsize = 8 };
    errno = 0;
    mqd_t q = mq_open(name, O_RDWR | O_CREAT | O_EXCL, mode, &attr);
    int e = errno;
    printf("%s -> %s", label, q == (mqd_t)-1 ? t_errno_name(e) : "ok");
    if (q == (mqd_t)-1) {
        t_failures++;
        printf("  !! MISMATCH: expected ok");
    }
    printf("\n");
    if (q != (mqd_t)-1)
        mq_close(q);
}

int main(void)
{
    stranger = 40000 + t_fnv1a(t_runid, 2166136261u) % 20000;
    const char *r077 = t_qname("root077"), *r022 = t_qname("root022"), *r000 = t_qname("root000");
    const char *n077 = t_qname("nobody077"), *n022 = t_qname("nobody022");
    const char *n022w = t_qname("nobody022w");

    t_say("-- root creates, nobody opens");
    create("root: umask 0077, mode 0666", r077, 0077, 0666);
    create("root: umask 0022, mode 0666", r022, 0022, 0666);
    create("root: umask 0, mode 0666", r000, 0, 0666);
    t_child c = t_spawn();
    if (c.pid == 0) {
        t_become(T_NOBODY);
        try_open("umask 0077 queue O_RDONLY", r077, O_RDONLY, 0);
        try_open("umask 0077 queue O_WRONLY", r077, O_WRONLY, 0);
        try_open("umask 0022 queue O_RDONLY", r022, O_RDONLY, 1);
        try_open("umask 0022 queue O_WRONLY", r022, O_WRONLY, 0);
        try_open("umask 0 queue O_RDWR", r000, O_RDWR, 1);
        exit(t_child_status());
    }
    t_join(&c, 0);

    t_say("-- nobody creates");
    c = t_spawn();
    if (c.pid == 0) {
        t_become(T_NOBODY);
        create("nobody: umask 077, mode 0600", n077, 077, 0600);
        create("nobody: umask 022, mode 0600", n022, 022, 0600);
        create("nobody: umask 022, mode 0666", n022w, 022, 0666);
        try_open("nobody reopens its umask 077 queue O_RDWR", n077, O_RDWR, 1);
        exit(t_child_status());
    }
    t_join(&c, 0);

    t_say("-- root opens nobody's queues");
    try_open("umask 077, mode 0600 O_RDWR", n077, O_RDWR, 1);
    try_open("umask 022, mode 0600 O_RDWR", n022, O_RDWR, 1);
    try_open("umask 022, mode 0666 O_RDWR", n022w, O_RDWR, 1);

    t_say("-- an unrelated uid opens nobody's queues");
    c = t_spawn();
    if (c.pid == 0) {
        t_become(stranger);
        try_open("umask 077, mode 0600 O_RDONLY", n077, O_RDONLY, 0);
        try_open("umask 022, mode 0600 O_RDONLY", n022, O_RDONLY, 0);
        try_open("umask 022, mode 0666 O_RDONLY", n022w, O_RDONLY, 1);
        try_open("umask 022, mode 0666 O_WRONLY", n022w, O_WRONLY, 0);
        exit(t_child_status());
    }
    t_join(&c, 0);

    EXPECT_EQ(mq_unlink(r077), 0);
    EXPECT_EQ(mq_unlink(r022), 0);
    EXPECT_EQ(mq_unlink(r000), 0);
    EXPECT_EQ(mq_unlink(n077), 0);
    EXPECT_EQ(mq_unlink(n022), 0);
    EXPECT_EQ(mq_unlink(n022w), 0);
    return t_finish();
}
