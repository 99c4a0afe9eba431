/* mqt: shim-only skip-config shim-kernel */
/* Not under the kernel backend: scheduled messages are the emulation's and the Redis backend's;
 * the kernel backend answers ENOTSUP (shim_scheduled_kernel_enotsup.c pins that). */
/* System V scheduled messages (mqshim_msgsnd_at, mqshim_msg_cancel in include/mqshim.h): a
 * message scheduled for an absolute CLOCK_REALTIME time is neither counted by IPC_STAT nor seen
 * by msgrcv until then; once due it takes its place among the others by type, as msgsnd would
 * have sent it then; it can be cancelled until it is due (ENOENT after); a receiver blocked on
 * the queue wakes at the due time (the earliest due message of another type enters the queue
 * meanwhile); it survives the exit of the process that scheduled it; a due message that does not
 * fit (msg_qbytes) waits and enters when a receive makes room; and the errnos come in msgsnd's
 * order (EINVAL for the type and size before the id or the permission, then the due time and
 * flags, EINVAL for a stale id, EACCES without write permission, EFAULT, EAGAIN beyond 64
 * pending). Shim-only: the kernel has no scheduled messages, so the test checks its own
 * expectations; shim-kernel is skipped because there the calls fail with ENOTSUP
 * (shim_scheduled_kernel_enotsup.c pins that). */
#define _GNU_SOURCE
#include <sys/msg.h>
#include "../include/mqshim.h"
#include "harness.h"
#include "mqt_shim.h"


static long long ns_of(struct timespec ts)
{
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ns_of(ts);
}

/* Waiting for a due time is what this feature is about: sleep until `ts` (+ `extra_ms`). */
static void sleep_until(struct timespec ts, long extra_ms)
{
    long long ns = ns_of(ts) + extra_ms * 1000000LL;
    struct timespec until = { (time_t)(ns / 1000000000LL), (long)(ns % 1000000000LL) };
    while (clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &until, NULL) == EINTR)
        ;
}

static void stat_line(int id)
{
    struct msqid_ds ds;
    memset(&ds, 0, sizeof ds);
    T_REQUIRE(msgctl(id, IPC_STAT, &ds) == 0);
    t_say("qnum %lu cbytes %lu", (unsigned long)ds.msg_qnum, (unsigned long)ds.__msg_cbytes);
}

static void send_typed(int id, long type, const char *text)
{
    struct t_msg m = { .mtype = type };
    memcpy(m.mtext, text, strlen(text));
    T_REQUIRE(msgsnd(id, &m, strlen(text), IPC_NOWAIT) == 0);
}

/* msgrcv(IPC_NOWAIT) of `type`, printed. */
static void receive_now(int id, long type, const char *label)
{
    struct t_msg m;
    long n = EXPECT_OK(msgrcv(id, &m, sizeof m.mtext, type, IPC_NOWAIT));
    if (n >= 0)
        t_show_typed(label, m.mtext, n, m.mtype);
}

/* The receiver's side of "woke at the due time": it reads the due time the scheduler sent. */
static void check_woke_at_due(t_chan *due_chan, const char *what)
{
    long long woke = now_ns();
    struct timespec due;
    T_REQUIRE(read(due_chan->rd, &due, sizeof due) == (ssize_t)sizeof due);
    char label[160];
    snprintf(label, sizeof label, "%s at the due time, within 1 s", what);
    t_check(label, woke >= ns_of(due) && woke < ns_of(due) + 1000000000LL);
}

static void post_due(t_chan *due_chan, struct timespec due)
{
    T_REQUIRE(write(due_chan->wr, &due, sizeof due) == (ssize_t)sizeof due);
}

static void errnos(void)
{
    t_say("-- errnos");
    int id = t_msgget_new("sched-errnos", 0600, NULL);
    int stale = t_msgget_new("sched-stale", 0600, NULL);
    T_REQUIRE(msgctl(stale, IPC_RMID, NULL) == 0);
    struct msginfo info;
    T_REQUIRE(msgctl(0, IPC_INFO, (struct msqid_ds *)&info) >= 0);
    struct t_msg *big = calloc(1, sizeof(long) + (size_t)info.msgmax + 1);
    T_REQUIRE(big != NULL);
    big->mtype = 1;
    struct t_msg m = { .mtype = 1 };
    memcpy(m.mtext, "x", 1);
    mqshim_handle_t h = 0;
    struct timespec far = t_deadline_ms(600000);
    struct timespec bad_nsec = { far.tv_sec, 1000000000L };
    struct timespec negative = { -1, 0 };

    /* The type and size before the id, the due time and the flags before the id too. */
    m.mtype = 0;
    EXPECT_ERR(shim_msgsnd_at(stale, &m, 1, 0, &far, &h), EINVAL);
    m.mtype = 1;
    EXPECT_ERR(shim_msgsnd_at(stale, big, (size_t)info.msgmax + 1, 0, &far, &h), EINVAL);
    EXPECT_ERR(shim_msgsnd_at(id, &m, 1, 0, &bad_nsec, &h), EINVAL);
    EXPECT_ERR(shim_msgsnd_at(id, &m, 1, 0, &negative, &h), EINVAL);
    EXPECT_ERR(shim_msgsnd_at(id, &m, 1, 0, NULL, &h), EINVAL);
    EXPECT_ERR(shim_msgsnd_at(id, &m, 1, MSG_NOERROR, &far, &h), EINVAL);
    EXPECT_EQ(shim_msgsnd_at(id, &m, 1, IPC_NOWAIT, &far, &h), 0);
    EXPECT_EQ(shim_msg_cancel(id, h), 0);
    EXPECT_ERR(shim_msgsnd_at(stale, &m, 1, 0, &far, &h), EINVAL);
    EXPECT_ERR(shim_msgsnd_at(-1, &m, 1, 0, &far, &h), EINVAL);
    EXPECT_ERR(shim_msgsnd_at(id, NULL, 1, 0, &far, &h), EFAULT);
    EXPECT_ERR(shim_msgsnd_at(id, &m, 1, 0, (const struct timespec *)8, &h), EFAULT);
    EXPECT_ERR(shim_msgsnd_at(id, &m, 1, 0, &far, NULL), EFAULT);
    EXPECT_EQ(shim_msgsnd_at(id, big, (size_t)info.msgmax, 0, &far, &h), 0);
    EXPECT_EQ(shim_msg_cancel(id, h), 0);
    free(big);

    /* At most 64 pending per queue; handles are unique and never 0. */
    mqshim_handle_t handles[64];
    int scheduled = 0, unique = 1;
    for (int i = 0; i < 64; i++)
        if (shim_msgsnd_at(id, &m, 1, 0, &far, &handles[i]) == 0)
            scheduled++;
    for (int i = 0; i < 64 && unique; i++)
        for (int j = 0; j < i; j++)
            if (handles[i] == 0 || handles[i] == handles[j])
                unique = 0;
    t_check("64 scheduled", scheduled == 64);
    t_check("their handles are unique and not 0", unique);
    EXPECT_ERR(shim_msgsnd_at(id, &m, 1, 0, &far, &h), EAGAIN);
    stat_line(id);
    int cancelled = 0;
    for (int i = 0; i < 64; i++)
        if (shim_msg_cancel(id, handles[i]) == 0)
            cancelled++;
    t_check("64 cancelled", cancelled == 64);
    EXPECT_ERR(shim_msg_cancel(id, handles[0]), ENOENT);
    EXPECT_ERR(shim_msg_cancel(id, 0), ENOENT);
    EXPECT_ERR(shim_msg_cancel(stale, handles[0]), EINVAL);
    EXPECT_ERR(shim_msg_cancel(-1, handles[0]), EINVAL);

    /* Without write permission: EACCES, after the checks that come before the id. */
    int ro = t_msgget_new("sched-readonly", 0644, NULL);
    mqshim_handle_t root_handle = 0;
    EXPECT_EQ(shim_msgsnd_at(ro, &m, 1, 0, &far, &root_handle), 0);
    t_child c = t_spawn();
    if (c.pid == 0) {
        t_become(T_NOBODY);
        EXPECT_ERR(shim_msgsnd_at(ro, &m, 1, 0, &far, &h), EACCES);
        EXPECT_ERR(shim_msg_cancel(ro, root_handle), EACCES);
        m.mtype = 0;
        EXPECT_ERR(shim_msgsnd_at(ro, &m, 1, 0, &far, &h), EINVAL);
        m.mtype = 1;
        EXPECT_ERR(shim_msgsnd_at(ro, &m, 1, 0, &bad_nsec, &h), EINVAL);
        exit(t_child_status());
    }
    t_join(&c, 0);
    EXPECT_EQ(shim_msg_cancel(ro, root_handle), 0);

    /* IPC_RMID discards what is pending. */
    EXPECT_EQ(shim_msgsnd_at(id, &m, 1, 0, &far, &h), 0);
    EXPECT_EQ(msgctl(id, IPC_RMID, NULL), 0);
    EXPECT_ERR(shim_msg_cancel(id, h), EINVAL);
    EXPECT_EQ(msgctl(ro, IPC_RMID, NULL), 0);
}

static void ordering_and_cancel(void)
{
    t_say("-- invisible until due, then in type order; cancel");
    int id = t_msgget_new("sched-order", 0600, NULL);
    struct t_msg m = { .mtype = 2 };
    memcpy(m.mtext, "two", 3);
    mqshim_handle_t h, never, late;
    send_typed(id, 3, "three");
    send_typed(id, 1, "one");
    /* Due times far enough ahead for the steps before them, even on a loaded machine. */
    struct timespec due = t_deadline_ms(600);
    EXPECT_EQ(shim_msgsnd_at(id, &m, 3, 0, &due, &h), 0);
    stat_line(id);
    EXPECT_ERR(msgrcv(id, &m, sizeof m.mtext, 2, IPC_NOWAIT), ENOMSG);
    /* Cancelled before it is due: it never appears. */
    m.mtype = 4;
    memcpy(m.mtext, "never", 5);
    struct timespec never_due = t_deadline_ms(600);
    EXPECT_EQ(shim_msgsnd_at(id, &m, 5, 0, &never_due, &never), 0);
    EXPECT_EQ(shim_msg_cancel(id, never), 0);
    EXPECT_ERR(shim_msg_cancel(id, never), ENOENT);
    sleep_until(never_due, 50);
    stat_line(id);
    EXPECT_ERR(shim_msg_cancel(id, h), ENOENT);
    EXPECT_ERR(msgrcv(id, &m, sizeof m.mtext, 4, IPC_NOWAIT), ENOMSG);
    receive_now(id, -10, "lowest type");
    receive_now(id, -10, "lowest type");
    receive_now(id, -10, "lowest type");

    /* Cancel after the due time, before anything else touched the queue: ENOENT, and the
     * message is there. */
    m.mtype = 5;
    memcpy(m.mtext, "five", 4);
    struct timespec soon = t_deadline_ms(100);
    EXPECT_EQ(shim_msgsnd_at(id, &m, 4, 0, &soon, &late), 0);
    sleep_until(soon, 50);
    EXPECT_ERR(shim_msg_cancel(id, late), ENOENT);
    receive_now(id, 5, "after a late cancel");
    EXPECT_EQ(msgctl(id, IPC_RMID, NULL), 0);
}

static void blocked_receiver_wakes(void)
{
    t_say("-- a blocked receiver wakes at the due time");
    int id = t_msgget_new("sched-wake", 0600, NULL);
    t_chan ready = t_chan_open(), due_chan = t_chan_open();
    t_child c = t_spawn();
    if (c.pid == 0) {
        struct t_msg r;
        msgrcv(id, &r, sizeof r.mtext, 6, IPC_NOWAIT);   /* warm up (ENOMSG) */
        t_chan_post(&ready);
        long n = EXPECT_EQ(msgrcv(id, &r, sizeof r.mtext, 6, 0), 4);
        check_woke_at_due(&due_chan, "received");
        if (n >= 0)
            t_show_typed("received", r.mtext, n, r.mtype);
        exit(t_child_status());
    }
    t_chan_wait(&ready);
    t_wait_blocked(c.pid);
    struct t_msg m = { .mtype = 6 };
    mqshim_handle_t h;
    memcpy(m.mtext, "wake", 4);
    struct timespec due = t_deadline_ms(400);
    EXPECT_EQ(shim_msgsnd_at(id, &m, 4, 0, &due, &h), 0);
    /* Another type, due earlier: it enters the queue and the receiver sleeps on. */
    m.mtype = 5;
    memcpy(m.mtext, "early", 5);
    struct timespec early = t_deadline_ms(150);
    EXPECT_EQ(shim_msgsnd_at(id, &m, 5, 0, &early, &h), 0);
    post_due(&due_chan, due);
    t_join(&c, 0);
    stat_line(id);
    receive_now(id, 0, "entered the queue meanwhile");
    EXPECT_EQ(msgctl(id, IPC_RMID, NULL), 0);
}

static void survives_the_scheduler(void)
{
    t_say("-- survives the exit of the process that scheduled it");
    int id = t_msgget_new("sched-orphan", 0600, NULL);
    t_chan due_chan = t_chan_open();
    t_child c = t_spawn();
    if (c.pid == 0) {
        struct t_msg m = { .mtype = 7 };
        mqshim_handle_t h;
        memcpy(m.mtext, "orphan", 6);
        struct timespec due = t_deadline_ms(500);
        EXPECT_EQ(shim_msgsnd_at(id, &m, 6, 0, &due, &h), 0);
        post_due(&due_chan, due);
        exit(t_child_status());
    }
    t_join(&c, 0);
    struct t_msg r;
    long n = EXPECT_EQ(msgrcv(id, &r, sizeof r.mtext, 7, 0), 6);
    check_woke_at_due(&due_chan, "the parent received it");
    if (n >= 0)
        t_show_typed("received", r.mtext, n, r.mtype);
    EXPECT_EQ(msgctl(id, IPC_RMID, NULL), 0);
}

static void full_queue(void)
{
    t_say("-- a due message that does not fit waits for room");
    int id = t_msgget_new("sched-full", 0600, NULL);
    struct msqid_ds ds;
    T_REQUIRE(msgctl(id, IPC_STAT, &ds) == 0);
    ds.msg_qbytes = 10;
    EXPECT_EQ(msgctl(id, IPC_SET, &ds), 0);
    send_typed(id, 1, "0123456789");
    struct t_msg m = { .mtype = 2 };
    mqshim_handle_t h;
    memcpy(m.mtext, "xyz", 3);
    struct timespec due = t_deadline_ms(150);
    EXPECT_EQ(shim_msgsnd_at(id, &m, 3, 0, &due, &h), 0);
    sleep_until(due, 50);
    stat_line(id);
    EXPECT_ERR(shim_msg_cancel(id, h), ENOENT);
    EXPECT_ERR(msgrcv(id, &m, sizeof m.mtext, 2, IPC_NOWAIT), ENOMSG);
    receive_now(id, 0, "makes room");
    stat_line(id);
    receive_now(id, 0, "entered");
    EXPECT_EQ(msgctl(id, IPC_RMID, NULL), 0);
}

int main(void)
{
    errnos();
    ordering_and_cancel();
    blocked_receiver_wakes();
    survives_the_scheduler();
    full_queue();
    return t_finish();
}
