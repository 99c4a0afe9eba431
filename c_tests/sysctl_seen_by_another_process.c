/* A sysctl belongs to the IPC namespace, not to the process that wrote it: a process that was
 * already running (and had already created a queue of each kind) sees msg_max and msgmni as written at its
 * next mq_open and msgget, and reads them from the files; a process started afterwards (a
 * fresh program image) sees them from its first call. */
#include "harness.h"
#include "mqt_sysctl.h"

/* What the other process checks: the files, and the limits at creation. */
static void check_limits(const char *who)
{
    t_say("-- %s", who);
    int id = EXPECT_OK(msgget(IPC_PRIVATE, IPC_CREAT | 0600));
    EXPECT_ERR(msgget(IPC_PRIVATE, IPC_CREAT | 0600), ENOSPC);
    EXPECT_EQ(msgctl(id, IPC_RMID, NULL), 0);
    struct mq_attr attr = { .mq_maxmsg = 6, .mq_msgsize = 16 };
    EXPECT_ERR(mq_open(t_qname("big"), O_RDWR | O_CREAT | O_EXCL, 0600, &attr), EINVAL);
    attr.mq_maxmsg = 5;
    mqd_t q = EXPECT_OK(mq_open(t_qname("ok"), O_RDWR | O_CREAT | O_EXCL, 0600, &attr));
    EXPECT_EQ(mq_close(q), 0);
    EXPECT_EQ(mq_unlink(t_qname("ok")), 0);
    sys_read(SYS_MSG_MAX);
    sys_read(SYS_MSGMNI);
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--started-after") == 0) {
        t_is_child = 1;
        check_limits("a process started after the writes");
        t_finished = 1;
        return t_child_status();
    }
    sys_private_ipc();
    shim_drop_cap_sys_resource();
    t_chan ready = t_chan_open(), go = t_chan_open();
    t_child running = t_spawn();
    if (running.pid == 0) {
        struct mq_attr attr = { .mq_maxmsg = 8, .mq_msgsize = 16 };
        mqd_t q = mq_open(t_qname("early"), O_RDWR | O_CREAT | O_EXCL, 0600, &attr);
        T_REQUIRE(q != (mqd_t)-1);
        T_REQUIRE(mq_close(q) == 0 && mq_unlink(t_qname("early")) == 0);
        int early = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
        T_REQUIRE(early >= 0 && msgctl(early, IPC_RMID, NULL) == 0);
        t_chan_post(&ready);
        t_chan_wait(&go);
        check_limits("a process already running");
        exit(t_child_status());
    }
    t_chan_wait(&ready);
    sys_write(SYS_MSG_MAX, "5\n");
    sys_write(SYS_MSGMNI, "1\n");
    t_chan_post(&go);
    t_join(&running, 0);

    t_child later = t_spawn();
    if (later.pid == 0) {
        fflush(stdout);
        execl("/proc/self/exe", argv[0], "--started-after", (char *)NULL);
        printf("HARNESS: exec failed (%s)\n", t_errno_name(errno));
        exit(97);
    }
    t_join(&later, 0);
    return t_finish();
}
