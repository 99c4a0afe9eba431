/* mqt: static */
/* A queue root gives away with IPC_SET (uid and gid nobody, mode 0600) is nobody's in every
 * way: nobody uses it and removes it with IPC_RMID, and then its key is free — nobody's
 * msgget(K, IPC_CREAT|0600) makes a new queue of that key, which nobody removes too, and root
 * finds the key free afterwards (ENOENT). On the kernel a queue is a kernel object; under the
 * emulation its segment and its key's link are files in a sticky directory, which only their
 * owner can remove, so root's IPC_SET gives nobody the files as well. (Shown failing before
 * that: nobody's IPC_RMID left root's key link behind, and nobody's msgget(K, IPC_CREAT) was
 * EACCES.) */
#include "harness.h"

static void result(const char *what, long r, int want_ok, int want_errno)
{
    int e = errno;
    int good = want_ok ? r >= 0 : (r < 0 && e == want_errno);
    printf("%s -> %s", what, r >= 0 ? "ok" : t_errno_name(e));
    if (!good) {
        t_failures++;
        printf("  !! MISMATCH: expected %s", want_ok ? "ok" : t_errno_name(want_errno));
    }
    printf("\n");
}

int main(void)
{
    key_t key;
    int id = t_msgget_new("giveaway", 0600, &key);
    struct t_msg m = { .mtype = 1 };
    memcpy(m.mtext, "hi", 2);
    T_REQUIRE(msgsnd(id, &m, 2, IPC_NOWAIT) == 0);
    struct msqid_ds ds;
    T_REQUIRE(msgctl(id, IPC_STAT, &ds) == 0);
    ds.msg_perm.uid = T_NOBODY;
    ds.msg_perm.gid = T_NOBODY;
    ds.msg_perm.mode = 0600;
    errno = 0;
    result("root: IPC_SET uid nobody, gid nobody, mode 0600", msgctl(id, IPC_SET, &ds), 1, 0);

    t_child c = t_spawn();
    if (c.pid == 0) {
        t_become(T_NOBODY);
        struct t_msg got;
        errno = 0;
        long r = msgrcv(id, &got, sizeof got.mtext, 0, IPC_NOWAIT);
        result("nobody: msgrcv", r, 1, 0);
        errno = 0;
        r = msgget(key, 0600);
        printf("nobody: msgget(K, 0600) is the queue: %s\n", r == id ? "yes" : "no");
        if (r != id)
            t_failures++;
        errno = 0;
        result("nobody: IPC_RMID", msgctl(id, IPC_RMID, NULL), 1, 0);
        errno = 0;
        result("nobody: msgget(K, 0) after", msgget(key, 0), 0, ENOENT);
        errno = 0;
        int mine = msgget(key, IPC_CREAT | IPC_EXCL | 0600);
        result("nobody: msgget(K, IPC_CREAT|IPC_EXCL|0600)", mine, 1, 0);
        if (mine >= 0) {
            printf("nobody: it is a new queue: %s\n", mine != id ? "yes" : "no");
            errno = 0;
            result("nobody: IPC_RMID of its own", msgctl(mine, IPC_RMID, NULL), 1, 0);
        }
        exit(t_child_status());
    }
    t_join(&c, 0);
    errno = 0;
    result("root: msgget(K, 0) after", msgget(key, 0), 0, ENOENT);
    errno = 0;
    result("root: IPC_STAT of the removed id", msgctl(id, IPC_STAT, &ds), 0, EINVAL);
    return t_finish();
}
