/* mqt: shim-only skip-config shim-emulate skip-config shim-redis */
/* Scheduled messages exist only under the emulation and the Redis backend: with
 * MQSHIM_BACKEND=kernel, mqshim_mq_send_at, mqshim_mq_cancel, mqshim_msgsnd_at and mqshim_msg_cancel fail with
 * ENOTSUP — with valid arguments as with invalid ones — and leave the kernel's queues untouched.
 * Shim-only: the plain kernel has no such functions, so the test checks its own expectations;
 * shim-emulate and shim-redis are skipped because there the calls work (shim_scheduled_posix.c
 * and shim_scheduled_sysv.c pin that). */
#define _GNU_SOURCE
#include <mqueue.h>
#include <sys/msg.h>
#include "../include/mqshim.h"
#include "harness.h"
#include "mqt_shim.h"

int main(void)
{
    __typeof__(mqshim_backend) *backend = (__typeof__(backend))dlsym(RTLD_DEFAULT, "mqshim_backend");
    T_REQUIRE(backend != NULL);
    t_check("the backend is the kernel or Redis",
            strcmp(backend(), "kernel") == 0 || strcmp(backend(), "redis") == 0);

    const char *name = t_qname("sched-kernel");
    mqd_t q = t_mq_create("sched-kernel", 4, 16, 0);
    int id = t_msgget_new("sched-kernel", 0600, NULL);
    mqshim_handle_t h = 0;
    struct timespec due = t_deadline_ms(100);
    struct timespec bad = { -1, 0 };
    struct t_msg m = { .mtype = 1 };
    memcpy(m.mtext, "x", 1);

    EXPECT_ERR(shim_mq_send_at(q, "x", 1, 0, &due, &h), ENOTSUP);
    EXPECT_ERR(shim_mq_send_at(-1, NULL, 1, 99999, &bad, NULL), ENOTSUP);
    EXPECT_ERR(shim_mq_cancel(q, 1), ENOTSUP);
    EXPECT_ERR(shim_mq_cancel(-1, 0), ENOTSUP);
    EXPECT_ERR(shim_msgsnd_at(id, &m, 1, 0, &due, &h), ENOTSUP);
    EXPECT_ERR(shim_msgsnd_at(-1, NULL, 1, -1, &bad, NULL), ENOTSUP);
    EXPECT_ERR(shim_msg_cancel(id, 1), ENOTSUP);
    EXPECT_ERR(shim_msg_cancel(-1, 0), ENOTSUP);
    t_check("no handle was written", h == 0);

    struct mq_attr a;
    EXPECT_EQ(mq_getattr(q, &a), 0);
    t_say("mq_curmsgs %ld", a.mq_curmsgs);
    struct msqid_ds ds;
    EXPECT_EQ(msgctl(id, IPC_STAT, &ds), 0);
    t_say("qnum %lu", (unsigned long)ds.msg_qnum);
    EXPECT_EQ(mq_close(q), 0);
    EXPECT_EQ(mq_unlink(name), 0);
    EXPECT_EQ(msgctl(id, IPC_RMID, NULL), 0);
    return t_finish();
}
