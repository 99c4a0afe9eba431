/* mqt: static */
/* mq_notify validates the sigevent before it looks at the descriptor: an unknown sigev_notify
 * (99, and SIGEV_THREAD_ID, which only POSIX timers take) is EINVAL and a SIGEV_SIGNAL with an
 * invalid signal (65, -1) is EINVAL even on fd 999 or on a pipe; only then is a bad fd, a
 * closed fd, a pipe or /dev/null EBADF (also with NULL, also for SIGEV_THREAD). SIGEV_SIGNAL
 * with signal 0 is accepted: the registration is real (a second one is EBUSY), the first
 * message on the empty queue delivers nothing at all, and the registration is then used up. */
#include "harness.h"

#ifndef SIGEV_THREAD_ID
#define SIGEV_THREAD_ID 4
#endif

static void thread_fn(union sigval v) { (void)v; }

static void caught(int sig) { (void)sig; }

/* "label: N", a mismatch unless N is what the kernel gives. */
static void expect_count(const char *label, long got, long want)
{
    printf("%s: %ld", label, got);
    if (got != want) {
        t_failures++;
        printf("  !! MISMATCH: expected %ld", want);
    }
    printf("\n");
}

int main(void)
{
    const char *name = t_qname("notifyval");
    mqd_t q = t_mq_create("notifyval", 2, 8, 0);
    int p[2];
    T_REQUIRE(pipe(p) == 0);
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    T_REQUIRE(devnull >= 0);
    int closed = open("/dev/null", O_RDONLY | O_CLOEXEC);
    T_REQUIRE(closed >= 0 && close(closed) == 0);

    struct sigevent bogus = { .sigev_notify = 99 };
    struct sigevent thread_id = { .sigev_notify = SIGEV_THREAD_ID, .sigev_signo = SIGUSR1 };
    struct sigevent sig65 = { .sigev_notify = SIGEV_SIGNAL, .sigev_signo = 65 };
    struct sigevent sigm1 = { .sigev_notify = SIGEV_SIGNAL, .sigev_signo = -1 };
    struct sigevent sig0 = { .sigev_notify = SIGEV_SIGNAL, .sigev_signo = 0 };
    struct sigevent none = { .sigev_notify = SIGEV_NONE };
    struct sigevent thread = { .sigev_notify = SIGEV_THREAD };
    thread.sigev_notify_function = thread_fn;

    t_say("-- the sigevent is checked first: EINVAL on a queue, fd 999 and a pipe alike");
    EXPECT_ERR(mq_notify(q, &bogus), EINVAL);
    EXPECT_ERR(mq_notify(999, &bogus), EINVAL);
    EXPECT_ERR(mq_notify(p[0], &bogus), EINVAL);
    EXPECT_ERR(mq_notify(q, &thread_id), EINVAL);
    EXPECT_ERR(mq_notify(999, &thread_id), EINVAL);
    EXPECT_ERR(mq_notify(q, &sig65), EINVAL);
    EXPECT_ERR(mq_notify(999, &sig65), EINVAL);
    EXPECT_ERR(mq_notify(p[0], &sig65), EINVAL);
    EXPECT_ERR(mq_notify(q, &sigm1), EINVAL);
    EXPECT_ERR(mq_notify(999, &sigm1), EINVAL);

    t_say("-- then the descriptor: EBADF for a bad, closed or non-queue fd");
    EXPECT_ERR(mq_notify(999, &none), EBADF);
    EXPECT_ERR(mq_notify(999, &sig0), EBADF);
    EXPECT_ERR(mq_notify(999, NULL), EBADF);
    EXPECT_ERR(mq_notify(-1, &none), EBADF);
    EXPECT_ERR(mq_notify(closed, &none), EBADF);
    EXPECT_ERR(mq_notify(p[0], &none), EBADF);
    EXPECT_ERR(mq_notify(p[1], NULL), EBADF);
    EXPECT_ERR(mq_notify(devnull, &none), EBADF);
    EXPECT_ERR(mq_notify(p[0], &thread), EBADF);
    EXPECT_ERR(mq_notify(999, &thread), EBADF);
    t_say("none of this registered anything:");
    EXPECT_EQ(mq_notify(q, &none), 0);
    EXPECT_EQ(mq_notify(q, NULL), 0);

    t_say("-- SIGEV_SIGNAL with signal 0 is accepted");
    /* Catch every catchable signal, so that a stray delivery would show as pending. */
    sigset_t all, pending;
    sigfillset(&all);
    sigdelset(&all, SIGALRM);                   /* the harness's watchdog */
    sigprocmask(SIG_BLOCK, &all, NULL);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = caught;
    for (int s = 1; s < NSIG; s++)
        if (s != SIGKILL && s != SIGSTOP && s != SIGALRM)
            sigaction(s, &sa, NULL);
    EXPECT_EQ(mq_notify(q, &sig0), 0);
    EXPECT_ERR(mq_notify(q, &sig0), EBUSY);
    EXPECT_ERR(mq_notify(q, &none), EBUSY);
    EXPECT_EQ(mq_send(q, "a", 1, 0), 0);
    sigpending(&pending);
    int n = 0;
    for (int s = 1; s < NSIG; s++)
        if (sigismember(&pending, s) == 1)
            n++;
    expect_count("signals pending after the first message", n, 0);
    t_say("the registration was used up by that message:");
    EXPECT_EQ(mq_notify(q, &sig0), 0);
    EXPECT_EQ(mq_notify(q, NULL), 0);
    char buf[8];
    EXPECT_EQ(mq_receive(q, buf, sizeof buf, NULL), 1);

    close(p[0]);
    close(p[1]);
    close(devnull);
    EXPECT_EQ(mq_close(q), 0);
    EXPECT_EQ(mq_unlink(name), 0);
    return t_finish();
}
