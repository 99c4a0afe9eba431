/* mqt: skip-config shim-redis */
/* Not under Redis (shim-redis skipped): mqshim serves /dev/mqueue for emulated queues only; a
 * Redis queue has no file there (README "Across machines", Differences from the kernel). */
/* access and faccessat of /dev/mqueue/NAME answer as for any regular file of the queue's mode:
 * root may read and write whatever the mode (CAP_DAC_OVERRIDE) but not execute a file with no
 * execute bit; nobody gets what the "other" bits of 0640 and 0646 grant (EACCES otherwise),
 * checked as the real user by access and as the effective one with AT_EACCESS; F_OK says the
 * queue exists, ENOENT once it is unlinked; a mode other than R_OK|W_OK|X_OK is EINVAL. What
 * access says is what mq_open's permission check then does. */
#define _GNU_SOURCE
#include "harness.h"
#include "mqt_devmqueue.h"

int main(void)
{
    dmq_private_mount();
    umask(0);
    struct mq_attr attr = { .mq_maxmsg = 4, .mq_msgsize = 16 };
    const char *q640 = t_qname("a640"), *q646 = t_qname("a646");
    const char *p640 = dmq_path(q640), *p646 = dmq_path(q646);
    EXPECT_EQ(mq_close(EXPECT_OK(mq_open(q640, O_RDWR | O_CREAT | O_EXCL, 0640, &attr))), 0);
    EXPECT_EQ(mq_close(EXPECT_OK(mq_open(q646, O_RDWR | O_CREAT | O_EXCL, 0646, &attr))), 0);

    t_say("-- root");
    EXPECT_EQ(access(p640, F_OK), 0);
    EXPECT_EQ(access(p640, R_OK | W_OK), 0);
    EXPECT_ERR(access(p640, X_OK), EACCES);
    EXPECT_EQ(faccessat(AT_FDCWD, p640, R_OK | W_OK, AT_EACCESS), 0);
    EXPECT_ERR(access(p640, 8), EINVAL);
    EXPECT_ERR(access(dmq_path(t_qname("none")), F_OK), ENOENT);

    t_say("-- nobody");
    t_child c = t_spawn();
    if (c.pid == 0) {
        dmq_become_nobody();
        EXPECT_EQ(access(p640, F_OK), 0);
        EXPECT_ERR(access(p640, R_OK), EACCES);
        EXPECT_ERR(access(p640, W_OK), EACCES);
        EXPECT_EQ(access(p646, R_OK | W_OK), 0);
        EXPECT_ERR(access(p646, R_OK | X_OK), EACCES);
        EXPECT_EQ(faccessat(AT_FDCWD, p646, W_OK, AT_EACCESS), 0);
        EXPECT_ERR(faccessat(AT_FDCWD, p640, R_OK, AT_EACCESS), EACCES);
        EXPECT_ERR(mq_open(q640, O_RDONLY), EACCES);
        mqd_t q = EXPECT_OK(mq_open(q646, O_RDWR));
        EXPECT_EQ(mq_close(q), 0);
        exit(t_child_status());
    }
    t_join(&c, 0);

    t_say("-- root with nobody as effective user: access checks the real one, AT_EACCESS the effective");
    t_child e = t_spawn();
    if (e.pid == 0) {
        T_REQUIRE(setgroups(0, NULL) == 0);
        T_REQUIRE(setegid(DMQ_NOBODY) == 0);
        T_REQUIRE(seteuid(DMQ_NOBODY) == 0);
        EXPECT_EQ(access(p640, R_OK | W_OK), 0);
        EXPECT_ERR(faccessat(AT_FDCWD, p640, R_OK, AT_EACCESS), EACCES);
        exit(t_child_status());
    }
    t_join(&e, 0);

    t_say("-- after mq_unlink");
    EXPECT_EQ(mq_unlink(q640), 0);
    EXPECT_EQ(mq_unlink(q646), 0);
    EXPECT_ERR(access(p640, F_OK), ENOENT);
    EXPECT_ERR(faccessat(AT_FDCWD, p646, F_OK, AT_EACCESS), ENOENT);
    return t_finish();
}
