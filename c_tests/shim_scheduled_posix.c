/* mqt: shim-only skip-config shim-kernel */
/* Not under the kernel backend: scheduled messages are the emulation's and the Redis backend's;
 * the kernel backend answers ENOTSUP (shim_scheduled_kernel_enotsup.c pins that). */
/* POSIX scheduled messages (mqshim_mq_send_at, mqshim_mq_cancel in include/mqshim.h): a message
 * scheduled for an absolute CLOCK_REALTIME time is neither counted by mq_getattr nor received
 * until then (a timed receive that ends before it times out); once due it takes its place among
 * the others by priority; it can be cancelled until it is due (a timed receive past the due time
 * then times out) and not after (ENOENT); a receiver blocked on the queue wakes at the due time;
 * it survives the exit of the process that scheduled it; a due message on a full queue waits and
 * enters when a receive makes room, while a sender blocked on that full queue sleeps (it does
 * not spin on the due time it cannot act on); a due message that enters the empty queue fires
 * its mq_notify registration (when the next call looks at the queue), as a send by the process
 * that scheduled it; and the errnos are mq_timedsend's (EINVAL for the due time
 * and the priority before the descriptor, EBADF, EMSGSIZE, EFAULT), plus EAGAIN beyond 64
 * pending. Shim-only: the kernel has no scheduled messages, so the test checks its own
 * expectations; shim-kernel is skipped because there the calls fail with ENOTSUP
 * (shim_scheduled_kernel_enotsup.c pins that). */
#define _GNU_SOURCE
#include <mqueue.h>
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

static struct timespec plus_ms(struct timespec ts, long ms)
{
    long long ns = ns_of(ts) + ms * 1000000LL;
    struct timespec r = { (time_t)(ns / 1000000000LL), (long)(ns % 1000000000LL) };
    return r;
}

/* Waiting for a due time is what this feature is about: sleep until `ts` (+ `extra_ms`). */
static void sleep_until(struct timespec ts, long extra_ms)
{
    struct timespec until = plus_ms(ts, extra_ms);
    while (clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &until, NULL) == EINTR)
        ;
}

static void curmsgs(mqd_t q)
{
    struct mq_attr a;
    T_REQUIRE(mq_getattr(q, &a) == 0);
    t_say("mq_curmsgs %ld", a.mq_curmsgs);
}

static void receive_one(mqd_t q, const char *label)
{
    char buf[64];
    unsigned prio = 0;
    long n = EXPECT_OK(mq_receive(q, buf, sizeof buf, &prio));
    if (n >= 0)
        t_show_msg(label, buf, n, prio);
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
    const char *name = t_qname("sched-errnos");
    mqd_t q = t_mq_create("sched-errnos", 4, 16, 0);
    mqd_t rdonly = mq_open(name, O_RDONLY);
    T_REQUIRE(rdonly != (mqd_t)-1);
    mqshim_handle_t h = 0;
    char big[17] = { 0 };
    struct timespec far = t_deadline_ms(600000);
    struct timespec bad_nsec = { far.tv_sec, 1000000000L };
    struct timespec negative = { -1, 0 };

    /* The due time and the priority before the descriptor. */
    EXPECT_ERR(shim_mq_send_at(999, "x", 1, 0, &bad_nsec, &h), EINVAL);
    EXPECT_ERR(shim_mq_send_at(q, "x", 1, 0, &negative, &h), EINVAL);
    EXPECT_ERR(shim_mq_send_at(q, "x", 1, 0, NULL, &h), EINVAL);
    EXPECT_ERR(shim_mq_send_at(999, "x", 1, 32768, &far, &h), EINVAL);
    EXPECT_ERR(shim_mq_send_at(999, "x", 1, 0, &far, &h), EBADF);
    EXPECT_ERR(shim_mq_send_at(rdonly, "x", 1, 0, &far, &h), EBADF);
    EXPECT_ERR(shim_mq_send_at(q, big, sizeof big, 0, &far, &h), EMSGSIZE);
    EXPECT_ERR(shim_mq_send_at(q, NULL, 1, 0, &far, &h), EFAULT);
    EXPECT_ERR(shim_mq_send_at(q, "x", 1, 0, (const struct timespec *)8, &h), EFAULT);
    EXPECT_ERR(shim_mq_send_at(q, "x", 1, 0, &far, NULL), EFAULT);
    EXPECT_EQ(shim_mq_send_at(q, big, 16, 32767, &far, &h), 0);
    EXPECT_EQ(shim_mq_cancel(q, h), 0);

    /* At most 64 pending per queue; handles are unique and never 0. */
    mqshim_handle_t handles[64];
    int scheduled = 0, unique = 1;
    for (int i = 0; i < 64; i++)
        if (shim_mq_send_at(q, "x", 1, 0, &far, &handles[i]) == 0)
            scheduled++;
    for (int i = 0; i < 64 && unique; i++)
        for (int j = 0; j < i; j++)
            if (handles[i] == 0 || handles[i] == handles[j])
                unique = 0;
    t_check("64 scheduled", scheduled == 64);
    t_check("their handles are unique and not 0", unique);
    EXPECT_ERR(shim_mq_send_at(q, "x", 1, 0, &far, &h), EAGAIN);
    curmsgs(q);
    int cancelled = 0;
    for (int i = 0; i < 64; i++)
        if (shim_mq_cancel(q, handles[i]) == 0)
            cancelled++;
    t_check("64 cancelled", cancelled == 64);
    EXPECT_ERR(shim_mq_cancel(q, handles[0]), ENOENT);
    EXPECT_ERR(shim_mq_cancel(q, 0), ENOENT);
    EXPECT_ERR(shim_mq_cancel(999, handles[0]), EBADF);
    EXPECT_EQ(mq_close(rdonly), 0);
    EXPECT_EQ(mq_close(q), 0);
    EXPECT_EQ(mq_unlink(name), 0);
}

static void ordering_and_cancel(void)
{
    t_say("-- invisible until due, then in priority order; cancel");
    const char *name = t_qname("sched-order");
    mqd_t q = t_mq_create("sched-order", 4, 16, 0);
    mqshim_handle_t h, never, late;
    char buf[16];
    /* Due times far enough ahead for the steps before them, even on a loaded machine. */
    struct timespec due = t_deadline_ms(600);
    EXPECT_EQ(shim_mq_send_at(q, "mid", 3, 5, &due, &h), 0);
    curmsgs(q);
    struct timespec before_due = t_deadline_ms(100);
    EXPECT_ERR(mq_timedreceive(q, buf, sizeof buf, NULL, &before_due), ETIMEDOUT);
    EXPECT_EQ(mq_send(q, "low", 3, 1), 0);
    EXPECT_EQ(mq_send(q, "high", 4, 9), 0);
    curmsgs(q);
    /* Cancelled before it is due: it never appears. */
    struct timespec never_due = t_deadline_ms(600);
    EXPECT_EQ(shim_mq_send_at(q, "never", 5, 20, &never_due, &never), 0);
    EXPECT_EQ(shim_mq_cancel(q, never), 0);
    EXPECT_ERR(shim_mq_cancel(q, never), ENOENT);
    sleep_until(due, 50);
    curmsgs(q);
    EXPECT_ERR(shim_mq_cancel(q, h), ENOENT);
    receive_one(q, "first");
    receive_one(q, "second");
    receive_one(q, "third");
    struct timespec past_due = plus_ms(never_due, 250);
    EXPECT_ERR(mq_timedreceive(q, buf, sizeof buf, NULL, &past_due), ETIMEDOUT);

    /* Cancel after the due time, before anything else touched the queue: ENOENT, and the
     * message is there. */
    struct timespec soon = t_deadline_ms(100);
    EXPECT_EQ(shim_mq_send_at(q, "late", 4, 3, &soon, &late), 0);
    sleep_until(soon, 50);
    EXPECT_ERR(shim_mq_cancel(q, late), ENOENT);
    receive_one(q, "after a late cancel");
    EXPECT_EQ(mq_close(q), 0);
    EXPECT_EQ(mq_unlink(name), 0);
}

static void blocked_receiver_wakes(void)
{
    t_say("-- a blocked receiver wakes at the due time");
    const char *name = t_qname("sched-wake");
    mqd_t q = t_mq_create("sched-wake", 4, 16, 0);
    t_chan ready = t_chan_open(), due_chan = t_chan_open();
    t_child c = t_spawn();
    if (c.pid == 0) {
        char buf[16];
        unsigned prio = 0;
        t_chan_post(&ready);
        long n = EXPECT_EQ(mq_receive(q, buf, sizeof buf, &prio), 4);
        check_woke_at_due(&due_chan, "received");
        if (n >= 0)
            t_show_msg("received", buf, n, prio);
        exit(t_child_status());
    }
    t_chan_wait(&ready);
    t_wait_blocked(c.pid);
    mqshim_handle_t h;
    struct timespec due = t_deadline_ms(400);
    EXPECT_EQ(shim_mq_send_at(q, "wake", 4, 2, &due, &h), 0);
    post_due(&due_chan, due);
    t_join(&c, 0);
    curmsgs(q);
    EXPECT_EQ(mq_close(q), 0);
    EXPECT_EQ(mq_unlink(name), 0);
}

static void survives_the_scheduler(void)
{
    t_say("-- survives the exit of the process that scheduled it");
    const char *name = t_qname("sched-orphan");
    mqd_t q = t_mq_create("sched-orphan", 4, 16, 0);
    t_chan due_chan = t_chan_open();
    t_child c = t_spawn();
    if (c.pid == 0) {
        mqd_t mine = mq_open(name, O_WRONLY);
        T_REQUIRE(mine != (mqd_t)-1);
        mqshim_handle_t h;
        struct timespec due = t_deadline_ms(500);
        EXPECT_EQ(shim_mq_send_at(mine, "orphan", 6, 4, &due, &h), 0);
        EXPECT_EQ(mq_close(mine), 0);
        post_due(&due_chan, due);
        exit(t_child_status());
    }
    t_join(&c, 0);
    char buf[16];
    unsigned prio = 0;
    long n = EXPECT_EQ(mq_receive(q, buf, sizeof buf, &prio), 6);
    check_woke_at_due(&due_chan, "the parent received it");
    if (n >= 0)
        t_show_msg("received", buf, n, prio);
    EXPECT_EQ(mq_close(q), 0);
    EXPECT_EQ(mq_unlink(name), 0);
}

static void full_queue(void)
{
    t_say("-- a due message on a full queue waits for room");
    const char *name = t_qname("sched-full");
    mqd_t q = t_mq_create("sched-full", 1, 16, 0);
    mqshim_handle_t h;
    EXPECT_EQ(mq_send(q, "first", 5, 1), 0);
    struct timespec due = t_deadline_ms(150);
    EXPECT_EQ(shim_mq_send_at(q, "second", 6, 9, &due, &h), 0);
    sleep_until(due, 50);
    curmsgs(q);
    EXPECT_ERR(shim_mq_cancel(q, h), ENOENT);
    /* A sender blocked meanwhile sleeps until its deadline: the due message waiting for room is
     * no reason to wake before then (it once made the sender spin, burning its whole wait). */
    struct timespec cpu_before, cpu_after;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu_before);
    struct timespec deadline = t_deadline_ms(300);
    EXPECT_ERR(mq_timedsend(q, "third", 5, 1, &deadline), ETIMEDOUT);
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu_after);
    t_check("the blocked sender used under 100 ms of CPU in its 300 ms", ns_of(cpu_after) - ns_of(cpu_before) < 100000000LL);
    receive_one(q, "makes room");
    curmsgs(q);
    receive_one(q, "entered");
    EXPECT_EQ(mq_close(q), 0);
    EXPECT_EQ(mq_unlink(name), 0);
}

static void notification_when_found_due(void)
{
    t_say("-- a due message entering the empty queue fires the notification");
    const char *name = t_qname("sched-notify");
    mqd_t q = t_mq_create("sched-notify", 4, 16, 0);
    sigset_t usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    T_REQUIRE(sigprocmask(SIG_BLOCK, &usr1, NULL) == 0);
    struct sigevent ev = { .sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGUSR1 };
    ev.sigev_value.sival_int = 42;
    EXPECT_EQ(mq_notify(q, &ev), 0);
    mqshim_handle_t h;
    struct timespec due = t_deadline_ms(150);
    EXPECT_EQ(shim_mq_send_at(q, "n", 1, 3, &due, &h), 0);
    sleep_until(due, 50);
    /* The first look at the queue after the due time moves it in. */
    curmsgs(q);
    siginfo_t si;
    struct timespec bound = { 5, 0 };
    int sig = sigtimedwait(&usr1, &si, &bound);
    t_check("SIGUSR1 with SI_MESGQ and the registration's value",
            sig == SIGUSR1 && si.si_code == SI_MESGQ && si.si_value.sival_int == 42);
    t_check("sent by this process (it scheduled the message)", sig == SIGUSR1 && si.si_pid == getpid());
    T_REQUIRE(sigprocmask(SIG_UNBLOCK, &usr1, NULL) == 0);
    receive_one(q, "received");
    EXPECT_EQ(mq_close(q), 0);
    EXPECT_EQ(mq_unlink(name), 0);
}

int main(void)
{
    errnos();
    ordering_and_cancel();
    blocked_receiver_wakes();
    survives_the_scheduler();
    full_queue();
    notification_when_found_due();
    return t_finish();
}
