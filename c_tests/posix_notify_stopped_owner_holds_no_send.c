/* A message that fires a signal notification whose owner is stopped (SIGSTOP, a debugger) does
 * not make the send wait for the owner: the kernel queues the signal to the stopped process and
 * returns at once. The sender here is another user (nobody, through the descriptor it
 * inherited), which may not signal the owner itself: under mqshim the owner's relay thread
 * delivers it, and the send waits for that delivery (so that the signal is pending when it
 * returns, as with the kernel) — but not for a relay thread that is stopped with its process.
 * Continued, the owner gets its signal, once.
 * Shown failing on the code before: the blocking send waited out half a second for the stopped
 * owner ("returned within 100 ms ... !! MISMATCH"; the non-blocking one 20-35 ms). */
#include "harness.h"
#include "mqt_fault.h"

#define SIG (SIGRTMIN + 3)
#define PROMPT_MS 100

static mqd_t q;

static void round_with(int nonblock)
{
    t_say("-- a %s send by another user, the owner stopped", nonblock ? "non-blocking" : "blocking");
    t_chan registered = t_chan_open();
    pid_t owner = t_fork();
    if (owner == 0) {
        sigset_t sig;
        sigemptyset(&sig);
        sigaddset(&sig, SIG);
        sigprocmask(SIG_BLOCK, &sig, NULL);
        struct sigevent ev;
        memset(&ev, 0, sizeof ev);
        ev.sigev_notify = SIGEV_SIGNAL;
        ev.sigev_signo = SIG;
        if (mq_notify(q, &ev) != 0)
            exit(2);
        t_chan_post(&registered);
        raise(SIGSTOP);
        struct timespec wait = { 5, 0 }, none = { 0, 0 };
        if (sigtimedwait(&sig, NULL, &wait) != SIG)
            exit(3);
        exit(sigtimedwait(&sig, NULL, &none) == SIG ? 4 : 0);
    }
    t_chan_wait(&registered);
    int status;
    T_REQUIRE(waitpid(owner, &status, WUNTRACED) == owner && WIFSTOPPED(status));

    t_child c = t_spawn();
    if (c.pid == 0) {
        t_become_nobody(0);
        struct mq_attr flags = { .mq_flags = nonblock ? O_NONBLOCK : 0 };
        EXPECT_EQ(mq_setattr(q, &flags, NULL), 0);
        int64_t start = fault_now_ns();
        EXPECT_EQ(mq_send(q, "m", 1, 0), 0);
        t_check("mq_send returned within 100 ms", fault_now_ns() - start < PROMPT_MS * 1000000LL);
        exit(t_child_status());
    }
    t_join(&c, 0);

    kill(owner, SIGCONT);
    int code = t_reap(owner);
    t_check("the owner, continued, got its signal once", code == 0);
    if (code != 0)
        t_say("owner exit %d", code);
    char buf[8];
    EXPECT_EQ(mq_receive(q, buf, sizeof buf, NULL), 1);
    close(registered.rd);
    close(registered.wr);
}

int main(void)
{
    const char *name = t_qname("stoppedowner");
    q = t_mq_create("stoppedowner", 4, 8, 0);
    round_with(0);
    round_with(1);
    EXPECT_EQ(mq_close(q), 0);
    EXPECT_EQ(mq_unlink(name), 0);
    return t_finish();
}
