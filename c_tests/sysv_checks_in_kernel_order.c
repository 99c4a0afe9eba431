/* mqt: static */
/* The order in which msgsnd, msgrcv and msgctl check their arguments, which decides the errno
 * of a call that is wrong in several ways: msgsnd reads mtype first (EFAULT even for a bad id),
 * then rejects msgsz > msgmax, a negative size or id, and mtype < 1 (EINVAL), then reads the
 * text (EFAULT), and only then looks up the id (EINVAL when stale). msgrcv rejects a negative
 * id or size before anything. A receive into an unwritable buffer has already taken the
 * message (EFAULT, the message is lost). IPC_SET reads its buffer before the id is looked up. */
#include "harness.h"
#include <sys/mman.h>

int main(void)
{
    int id = t_msgget_new("order", 0600, NULL);
    int stale = t_msgget_new("order-stale", 0600, NULL);
    T_REQUIRE(msgctl(stale, IPC_RMID, NULL) == 0);
    long pagesz = sysconf(_SC_PAGESIZE);
    char *pages = mmap(NULL, 2 * pagesz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    T_REQUIRE(pages != MAP_FAILED);
    T_REQUIRE(munmap(pages + pagesz, pagesz) == 0);
    /* A msgbuf whose mtype is readable and whose text runs into the unmapped page. */
    struct t_msg *edge = (struct t_msg *)(pages + pagesz - sizeof(long) - 4);
    edge->mtype = 1;
    struct t_msg m = { .mtype = 1 }, zero = { .mtype = 0 };
    long msgmax = 8192;
    FILE *f = fopen("/proc/sys/kernel/msgmax", "r");
    if (f) {
        if (fscanf(f, "%ld", &msgmax) != 1)
            msgmax = 8192;
        fclose(f);
    }

    t_say("-- msgsnd");
    EXPECT_ERR(msgsnd(-1, NULL, 0, 0), EFAULT);
    EXPECT_ERR(msgsnd(id, NULL, 1, 0), EFAULT);
    EXPECT_ERR(msgsnd(-1, &m, 1, 0), EINVAL);
    EXPECT_ERR(msgsnd(id, &m, (size_t)msgmax + 1, 0), EINVAL);
    EXPECT_ERR(msgsnd(id, &m, (size_t)-1, 0), EINVAL);
    EXPECT_ERR(msgsnd(id, &zero, 1, 0), EINVAL);
    EXPECT_ERR(msgsnd(stale, &zero, 1, 0), EINVAL);
    EXPECT_ERR(msgsnd(stale, edge, 64, 0), EFAULT);
    EXPECT_ERR(msgsnd(id, edge, 64, 0), EFAULT);
    EXPECT_ERR(msgsnd(stale, &m, 1, 0), EINVAL);
    EXPECT_EQ(msgsnd(id, edge, 4, 0), 0);

    t_say("-- msgrcv");
    struct t_msg r;
    EXPECT_ERR(msgrcv(-1, &r, sizeof r.mtext, 0, 0), EINVAL);
    EXPECT_ERR(msgrcv(id, &r, (size_t)-1, 0, 0), EINVAL);
    EXPECT_ERR(msgrcv(stale, &r, sizeof r.mtext, 0, IPC_NOWAIT), EINVAL);
    char *ro = mmap(NULL, pagesz, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    T_REQUIRE(ro != MAP_FAILED);
    EXPECT_ERR(msgrcv(id, ro, 64, 0, IPC_NOWAIT), EFAULT);
    struct msqid_ds ds;
    EXPECT_EQ(msgctl(id, IPC_STAT, &ds), 0);
    t_say("after the failed copy-out: qnum %lu cbytes %lu", (unsigned long)ds.msg_qnum,
          (unsigned long)ds.__msg_cbytes);
    EXPECT_ERR(msgrcv(id, NULL, 64, 0, IPC_NOWAIT), ENOMSG);

    t_say("-- msgctl");
    EXPECT_ERR(msgctl(-1, IPC_STAT, &ds), EINVAL);
    EXPECT_ERR(msgctl(id, -1, &ds), EINVAL);
    EXPECT_ERR(msgctl(id, 99, &ds), EINVAL);
    EXPECT_ERR(msgctl(stale, IPC_SET, NULL), EFAULT);
    EXPECT_ERR(msgctl(stale, IPC_SET, &ds), EINVAL);
    EXPECT_ERR(msgctl(stale, IPC_RMID, NULL), EINVAL);
    EXPECT_ERR(msgctl(id, IPC_SET, (struct msqid_ds *)8), EFAULT);

    munmap(ro, pagesz);
    munmap(pages, pagesz);
    EXPECT_EQ(msgctl(id, IPC_RMID, NULL), 0);
    return t_finish();
}
