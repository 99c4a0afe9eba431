/* mqt: skip-config shim-redis */
/* Not under Redis (shim-redis skipped): mqshim serves /dev/mqueue for emulated queues only; a
 * Redis queue has no file there (README "Across machines", Differences from the kernel). */
/* chown of a queue's file, as of any non-directory, clears its setuid bit, and its setgid bit
 * when group execution is set too (without it the bit is no set-group-id) — by root as well,
 * and even when nothing changes (-1, -1); chmod by root leaves them. Through the path and
 * through a descriptor (fchown) alike. An owner outside the file's group and without
 * CAP_FSETID also loses a setgid bit without group execution, to chown, and cannot set one
 * with chmod (the bit is dropped, no error). */
#define _GNU_SOURCE
#include "harness.h"
#include "mqt_devmqueue.h"

int main(void)
{
    dmq_private_mount();
    umask(0);
    const char *name, *path;
    mqd_t q = dmq_create("sid", 0600, &name, &path);
    static const mode_t modes[] = { 06777, 06767, 04600, 02610, 02600, 01777 };
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        t_say("-- mode %04o", (unsigned)modes[i]);
        EXPECT_EQ(chmod(path, modes[i]), 0);
        dmq_show_mode_owner(path);
        EXPECT_EQ(chown(path, -1, -1), 0);
        dmq_show_mode_owner(path);
        EXPECT_EQ(chmod(path, modes[i]), 0);
        EXPECT_EQ(chown(path, DMQ_NOBODY, DMQ_NOBODY), 0);
        dmq_show_mode_owner(path);
        EXPECT_EQ(fchmod(q, modes[i]), 0);
        EXPECT_EQ(fchown(q, 0, -1), 0);
        dmq_show_mode_owner(path);
        EXPECT_EQ(chown(path, 0, 0), 0);
    }
    t_say("-- the owner, nobody, outside the group (root's)");
    EXPECT_EQ(chown(path, DMQ_NOBODY, 0), 0);
    EXPECT_EQ(chmod(path, 02600), 0);
    t_child c = t_spawn();
    if (c.pid == 0) {
        dmq_become_nobody();
        EXPECT_EQ(chown(path, -1, -1), 0);
        dmq_show_mode_owner(path);
        EXPECT_EQ(chmod(path, 02640), 0);
        dmq_show_mode_owner(path);
        EXPECT_EQ(fchmod(q, 06600), 0);
        dmq_show_mode_owner(path);
        exit(t_child_status());
    }
    t_join(&c, 0);
    EXPECT_EQ(mq_close(q), 0);
    EXPECT_EQ(mq_unlink(name), 0);
    return t_finish();
}
