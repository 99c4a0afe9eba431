/* A registration whose owner was killed with SIGKILL does not stay behind blocking others: as
 * soon as the owner is dead (still an unreaped zombie) another process can register, and
 * after reaping too; a message on the empty queue then notifies the new owner (and nobody
 * else). Tried with a SIGEV_SIGNAL and a SIGEV_THREAD owner. Processes are killed on purpose,
 * so the test is uncounted. */
#include "harness.h"

#define RT_SIG (SIGRTMIN + 6)

static void thread_fn(union sigval v) { (void)v; }

static int notes(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, RT_SIG);
    struct timespec zero = { 0, 0 };
    int n = 0;
    while (sigtimedwait(&set, NULL, &zero) == RT_SIG)
        n++;
    return n;
}

static void round_with(mqd_t q, int thread)
{
    t_say("-- a child registers %s and is killed", thread ? "SIGEV_THREAD" : "SIGEV_SIGNAL");
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    if (thread) {
        sev.sigev_notify = SIGEV_THREAD;
        sev.sigev_notify_function = thread_fn;
    } else {
        sev.sigev_notify = SIGEV_SIGNAL;
        sev.sigev_signo = RT_SIG;
    }
    struct sigevent mine = { .sigev_notify = SIGEV_SIGNAL, .sigev_signo = RT_SIG };
    t_chan registered = t_chan_open(), never = t_chan_open();
    pid_t pid = t_fork();
    if (pid == 0) {
        if (mq_notify(q, &sev) != 0)
            exit(1);
        t_chan_post(&registered);
        t_chan_wait(&never);                    /* killed here */
        exit(2);
    }
    t_chan_wait(&registered);
    EXPECT_ERR(mq_notify(q, &mine), EBUSY);
    T_REQUIRE(kill(pid, SIGKILL) == 0);
    siginfo_t si;
    memset(&si, 0, sizeof si);
    int r;
    do
        r = waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT);
    while (r < 0 && errno == EINTR);
    t_check("the owner was killed (not yet reaped)", r == 0 && si.si_code == CLD_KILLED);
    t_say("registering while the dead owner is a zombie:");
    EXPECT_EQ(mq_notify(q, &mine), 0);
    EXPECT_EQ(mq_notify(q, NULL), 0);
    int code = t_reap(pid);
    t_check("owner reaped, killed by SIGKILL", code == 128 + SIGKILL);
    t_say("registering after reaping:");
    EXPECT_EQ(mq_notify(q, &mine), 0);
    EXPECT_EQ(mq_send(q, "m", 1, 0), 0);
    t_check("the new owner was notified, once", notes() == 1);
    char buf[8];
    EXPECT_EQ(mq_receive(q, buf, sizeof buf, NULL), 1);
    close(registered.rd);
    close(registered.wr);
    close(never.rd);
    close(never.wr);
}

int main(void)
{
    t_uncounted();
    const char *name = t_qname("notifykill");
    mqd_t q = t_mq_create("notifykill", 2, 8, 0);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, RT_SIG);
    sigprocmask(SIG_BLOCK, &set, NULL);

    round_with(q, 0);
    round_with(q, 1);

    EXPECT_EQ(mq_close(q), 0);
    EXPECT_EQ(mq_unlink(name), 0);
    return t_finish();
}
