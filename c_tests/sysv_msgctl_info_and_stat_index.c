/* msgctl's Linux commands. IPC_INFO and MSG_INFO fill a struct msginfo and return the highest
 * index in use: IPC_INFO with the limits (msgmax, msgmnb, msgmni from /proc/sys/kernel) and
 * the kernel's constants (msgssz 16, msgseg 65535, msgpool 512000, msgmap and msgtql 16384);
 * MSG_INFO with msgpool, msgmap and msgtql replaced by the number of queues, of messages and of
 * bytes queued. MSG_STAT and MSG_STAT_ANY take an index (only its low 15 bits count) and
 * return the full id; an unused index is EINVAL. Bad buffers are EFAULT, never a crash. Only
 * what is the same on every machine state is printed (other queues may exist meanwhile). */
#include "harness.h"

#ifndef MSG_STAT_ANY
#define MSG_STAT_ANY 13
#endif

static long proc_value(const char *path)
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

int main(void)
{
    int id = t_msgget_new("info", 0600, NULL);
    int idx = id % 32768;
    struct t_msg m = { .mtype = 1 };
    memcpy(m.mtext, "0123456789", 10);
    EXPECT_EQ(msgsnd(id, &m, 10, 0), 0);
    EXPECT_EQ(msgsnd(id, &m, 5, 0), 0);

    t_say("-- IPC_INFO");
    struct msginfo info;
    memset(&info, 0xff, sizeof info);
    int r = msgctl(0, IPC_INFO, (struct msqid_ds *)&info);
    t_check("returns an index at least ours", r >= idx);
    t_check("msgmax is /proc/sys/kernel/msgmax", info.msgmax == proc_value("/proc/sys/kernel/msgmax"));
    t_check("msgmnb is /proc/sys/kernel/msgmnb", info.msgmnb == proc_value("/proc/sys/kernel/msgmnb"));
    t_check("msgmni is /proc/sys/kernel/msgmni", info.msgmni == proc_value("/proc/sys/kernel/msgmni"));
    t_say("msgssz %d msgseg %u msgpool %d msgmap %d msgtql %d", info.msgssz, (unsigned)info.msgseg,
          info.msgpool, info.msgmap, info.msgtql);
    EXPECT_ERR(msgctl(-1, IPC_INFO, (struct msqid_ds *)&info), EINVAL);
    EXPECT_ERR(msgctl(0, IPC_INFO, NULL), EFAULT);

    t_say("-- MSG_INFO");
    memset(&info, 0xff, sizeof info);
    r = msgctl(0, MSG_INFO, (struct msqid_ds *)&info);
    t_check("returns an index at least ours", r >= idx);
    t_check("msgmax is /proc/sys/kernel/msgmax", info.msgmax == proc_value("/proc/sys/kernel/msgmax"));
    t_say("msgssz %d msgseg %u", info.msgssz, (unsigned)info.msgseg);
    t_check("msgpool (queues) >= 1", info.msgpool >= 1);
    t_check("msgmap (messages) >= 2", info.msgmap >= 2);
    t_check("msgtql (bytes) >= 15", info.msgtql >= 15);

    t_say("-- MSG_STAT and MSG_STAT_ANY by index");
    struct msqid_ds ds, by_id;
    EXPECT_EQ(msgctl(id, IPC_STAT, &by_id), 0);
    r = msgctl(idx, MSG_STAT, &ds);
    t_check("MSG_STAT(index) returns the id msgget gave", r == id);
    t_check("  and the same qnum, cbytes, mode and key",
            ds.msg_qnum == by_id.msg_qnum && ds.__msg_cbytes == by_id.__msg_cbytes &&
            ds.msg_perm.mode == by_id.msg_perm.mode && ds.msg_perm.__key == by_id.msg_perm.__key);
    t_say("  qnum %lu cbytes %lu", (unsigned long)ds.msg_qnum, (unsigned long)ds.__msg_cbytes);
    r = msgctl(idx, MSG_STAT_ANY, &ds);
    t_check("MSG_STAT_ANY(index) returns the id", r == id);
    r = msgctl(idx + 3 * 32768, MSG_STAT, &ds);
    t_check("MSG_STAT(index + 3 << 15) returns the id too", r == id);
    t_check("msg_perm.__seq is the id's sequence number", ds.msg_perm.__seq == (unsigned)(id / 32768));
    EXPECT_ERR(msgctl(32767, MSG_STAT, &ds), EINVAL);
    EXPECT_ERR(msgctl(32767, MSG_STAT_ANY, &ds), EINVAL);
    EXPECT_ERR(msgctl(idx, MSG_STAT, NULL), EFAULT);
    EXPECT_ERR(msgctl(idx, MSG_STAT_ANY, (struct msqid_ds *)8), EFAULT);

    t_say("-- IPC_STAT with bad buffers");
    EXPECT_ERR(msgctl(id, IPC_STAT, NULL), EFAULT);
    EXPECT_ERR(msgctl(id, IPC_STAT, (struct msqid_ds *)8), EFAULT);

    EXPECT_EQ(msgctl(id, IPC_RMID, NULL), 0);
    EXPECT_ERR(msgctl(idx, MSG_STAT, &ds), EINVAL);
    return t_finish();
}
