/* mqt: static */
/* msgget of an existing key grants what ipcperms() grants, however little of the caller's
 * credentials the answer needs: the owner's class applies to the owner even when the other
 * classes have more (mode 0066 owned by nobody: nobody is refused what everyone else gets),
 * the group's class to a group member (0606: refused), CAP_IPC_OWNER overrides a mode that
 * grants nothing (0000), a request for nothing passes everywhere. And a process that drops its
 * privileges is judged by its new credentials at its next msgget and at every call after one
 * (root's 0600 queue: msgget(key, 0) passes, the send, receive and msgget(key, 0600) after it
 * are refused), and a child of root that becomes nobody is refused at its first call, with no
 * msgget before it. */
#include "harness.h"


/* A msgget expected to give queue `id`: prints "the id" rather than the number. */
#define EXPECT_ID(call, id) \
    ({ errno = 0; long r_ = (long)(call); int e_ = errno; \
       printf("%s -> %s\n", #call, r_ == (id) ? "its id" : r_ < 0 ? t_errno_name(e_) : "another id"); \
       if (r_ != (id)) t_failures++; })

int main(void)
{
    key_t owned_key, group_key, none_key, root_key;
    int owned = t_msgget_new("cls0066", 0066, &owned_key);
    int group = t_msgget_new("cls0606", 0606, &group_key);
    int none = t_msgget_new("cls0000", 0000, &none_key);
    int rooted = t_msgget_new("cls0600", 0600, &root_key);
    struct msqid_ds ds;
    EXPECT_OK(msgctl(owned, IPC_STAT, &ds));
    ds.msg_perm.uid = T_NOBODY;
    EXPECT_OK(msgctl(owned, IPC_SET, &ds));
    t_say("root made 0066 (given to nobody), 0606, 0000 and 0600");

    t_say("-- root: CAP_IPC_OWNER overrides 0000");
    EXPECT_ID(msgget(none_key, 0600), none);
    EXPECT_ID(msgget(none_key, 0), none);

    t_say("-- nobody, owner of 0066: the owner's class (nothing) applies");
    t_child c = t_spawn();
    if (c.pid == 0) {
        struct t_msg m = { .mtype = 1 };
        t_become_nobody(0);
        EXPECT_ID(msgget(owned_key, 0), owned);
        EXPECT_ERR(msgget(owned_key, 0004), EACCES);
        EXPECT_ERR(msgget(owned_key, 0400), EACCES);
        EXPECT_ERR(msgget(owned_key, IPC_CREAT | 0666), EACCES);
        EXPECT_ERR(msgsnd(owned, &m, 1, IPC_NOWAIT), EACCES);
        EXPECT_ERR(msgget(none_key, 0600), EACCES);
        EXPECT_ID(msgget(none_key, 0), none);
        exit(t_child_status());
    }
    t_join(&c, 0);

    t_say("-- nobody in root's group: 0606's group class (nothing) applies");
    c = t_spawn();
    if (c.pid == 0) {
        t_become_nobody(1);
        EXPECT_ERR(msgget(group_key, 0004), EACCES);
        EXPECT_ERR(msgget(group_key, 0200), EACCES);
        EXPECT_ID(msgget(group_key, 0), group);
        exit(t_child_status());
    }
    t_join(&c, 0);

    t_say("-- root drops its privileges between calls on its own 0600 queue");
    c = t_spawn();
    if (c.pid == 0) {
        struct t_msg m = { .mtype = 1 }, got;
        m.mtext[0] = 'r';
        EXPECT_ID(msgget(root_key, 0600), rooted);
        EXPECT_OK(msgsnd(rooted, &m, 1, IPC_NOWAIT));
        t_become_nobody(0);
        EXPECT_ID(msgget(root_key, 0), rooted);
        EXPECT_ERR(msgsnd(rooted, &m, 1, IPC_NOWAIT), EACCES);
        EXPECT_ERR(msgrcv(rooted, &got, sizeof got.mtext, 0, IPC_NOWAIT), EACCES);
        EXPECT_ERR(msgget(root_key, 0600), EACCES);
        EXPECT_ERR(msgget(root_key, 0002), EACCES);
        EXPECT_ID(msgget(root_key, IPC_CREAT), rooted);
        exit(t_child_status());
    }
    t_join(&c, 0);

    t_say("-- root sends; its child becomes nobody and sends with no msgget first");
    {
        struct t_msg m = { .mtype = 2 };
        m.mtext[0] = 'p';
        EXPECT_OK(msgsnd(rooted, &m, 1, IPC_NOWAIT));
    }
    c = t_spawn();
    if (c.pid == 0) {
        struct t_msg m = { .mtype = 3 }, got;
        t_become_nobody(0);
        EXPECT_ERR(msgsnd(rooted, &m, 1, IPC_NOWAIT), EACCES);
        EXPECT_ERR(msgrcv(rooted, &got, sizeof got.mtext, 0, IPC_NOWAIT), EACCES);
        EXPECT_ERR(msgctl(rooted, IPC_STAT, &ds), EACCES);
        exit(t_child_status());
    }
    t_join(&c, 0);

    EXPECT_OK(msgctl(rooted, IPC_STAT, &ds));
    t_say("root's queue holds %lu message(s)", (unsigned long)ds.msg_qnum);
    EXPECT_OK(msgctl(owned, IPC_RMID, NULL));
    EXPECT_OK(msgctl(group, IPC_RMID, NULL));
    EXPECT_OK(msgctl(none, IPC_RMID, NULL));
    EXPECT_OK(msgctl(rooted, IPC_RMID, NULL));
    return t_finish();
}
