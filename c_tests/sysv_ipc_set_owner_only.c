/* mqt: static */
/* Only the queue's owner or creator (euid == uid or cuid), or a process with CAP_SYS_ADMIN, may
 * change it with IPC_SET or remove it with IPC_RMID: nobody gets EPERM for both on root's queue
 * even though its mode (0666) grants everyone everything. The owner may give the queue away:
 * once root has set uid to nobody, nobody may IPC_SET it (mode, qbytes) and remove it, and root
 * keeps the right as the creator. Raising qbytes above msgmnb needs CAP_SYS_RESOURCE (EPERM);
 * uid or gid -1 is EINVAL (checked after the qbytes limit). */
#include "harness.h"

static void show(int id, const char *who)
{
    struct msqid_ds ds;
    if (msgctl(id, IPC_STAT, &ds) != 0) {
        t_say("%s: IPC_STAT -> -1 %s", who, t_errno_name(errno));
        return;
    }
    t_say("%s: mode %03o uid %s gid %s cuid %s qbytes %lu", who, (unsigned)ds.msg_perm.mode & 0777,
          ds.msg_perm.uid == 0 ? "root" : ds.msg_perm.uid == T_NOBODY ? "nobody" : "other",
          ds.msg_perm.gid == 0 ? "root" : ds.msg_perm.gid == T_NOBODY ? "nogroup" : "other",
          ds.msg_perm.cuid == 0 ? "root" : "other", (unsigned long)ds.msg_qbytes);
}

int main(void)
{
    int id = t_msgget_new("setowner", 0666, NULL);
    struct msqid_ds ds;
    show(id, "root");

    t_say("-- nobody, not the owner");
    t_child c = t_spawn();
    if (c.pid == 0) {
        t_become(T_NOBODY);
        show(id, "nobody");
        T_REQUIRE(msgctl(id, IPC_STAT, &ds) == 0);
        ds.msg_perm.mode = 0600;
        EXPECT_ERR(msgctl(id, IPC_SET, &ds), EPERM);
        EXPECT_ERR(msgctl(id, IPC_RMID, NULL), EPERM);
        struct t_msg m = { .mtype = 1 };
        EXPECT_EQ(msgsnd(id, &m, 0, IPC_NOWAIT), 0);   /* 0666: sending is allowed */
        exit(t_child_status());
    }
    t_join(&c, 0);

    t_say("-- root gives the queue to nobody (mode 0640)");
    T_REQUIRE(msgctl(id, IPC_STAT, &ds) == 0);
    ds.msg_perm.uid = T_NOBODY;
    ds.msg_perm.gid = T_NOBODY;
    ds.msg_perm.mode = 0640;
    EXPECT_EQ(msgctl(id, IPC_SET, &ds), 0);
    show(id, "root");

    t_say("-- nobody, now the owner");
    c = t_spawn();
    if (c.pid == 0) {
        t_become(T_NOBODY);
        show(id, "nobody");
        T_REQUIRE(msgctl(id, IPC_STAT, &ds) == 0);
        ds.msg_qbytes = 16385;
        EXPECT_ERR(msgctl(id, IPC_SET, &ds), EPERM);
        ds.msg_qbytes = 100;
        ds.msg_perm.uid = (uid_t)-1;
        EXPECT_ERR(msgctl(id, IPC_SET, &ds), EINVAL);
        ds.msg_perm.uid = T_NOBODY;
        ds.msg_perm.gid = (gid_t)-1;
        EXPECT_ERR(msgctl(id, IPC_SET, &ds), EINVAL);
        ds.msg_perm.gid = T_NOBODY;
        ds.msg_perm.mode = 0600;
        EXPECT_EQ(msgctl(id, IPC_SET, &ds), 0);
        show(id, "nobody");
        struct t_msg r;
        long n = EXPECT_EQ(msgrcv(id, &r, sizeof r.mtext, 0, IPC_NOWAIT), 0);
        (void)n;
        exit(t_child_status());
    }
    t_join(&c, 0);
    show(id, "root (creator)");

    t_say("-- root, the creator, may still change it; then nobody removes it");
    T_REQUIRE(msgctl(id, IPC_STAT, &ds) == 0);
    ds.msg_perm.mode = 0604;
    EXPECT_EQ(msgctl(id, IPC_SET, &ds), 0);
    show(id, "root");
    c = t_spawn();
    if (c.pid == 0) {
        t_become(T_NOBODY);
        EXPECT_EQ(msgctl(id, IPC_RMID, NULL), 0);
        EXPECT_ERR(msgctl(id, IPC_STAT, &ds), EINVAL);
        exit(t_child_status());
    }
    t_join(&c, 0);
    EXPECT_ERR(msgctl(id, IPC_STAT, &ds), EINVAL);
    EXPECT_ERR(msgctl(id, IPC_RMID, NULL), EINVAL);
    return t_finish();
}
