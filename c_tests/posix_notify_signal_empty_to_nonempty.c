/* mqt: static skip-config static-kernel skip-config static-musl */
/* (static-kernel, static-musl: the supervisor makes the served mq_send itself, so the kernel fills the
 * notification's si_pid with the supervisor's pid, not the sender's.) */
/* SIGEV_SIGNAL notification: a message arriving on an empty queue sends the registered
 * signal (si_code SI_MESGQ, the registered sigev_value, si_pid = sender) before mq_send
 * returns, and the registration is then gone (one-shot: registering again is not EBUSY).
 * A message arriving on a non-empty queue sends nothing. */
#include "harness.h"

static int pending_usr1(siginfo_t *info)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    struct timespec zero = { 0, 0 };
    return sigtimedwait(&set, info, &zero) == SIGUSR1;
}

int main(void)
{
    const char *name = t_qname("notifysig");
    mqd_t q = t_mq_create("notifysig", 4, 8, 0);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, NULL);

    struct sigevent ev = { .sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGUSR1 };
    ev.sigev_value.sival_int = 42;
    EXPECT_EQ(mq_notify(q, &ev), 0);
    EXPECT_EQ(mq_send(q, "first", 5, 0), 0);
    siginfo_t info;
    if (t_check("SIGUSR1 pending after the send", pending_usr1(&info))) {
        t_check("si_code is SI_MESGQ", info.si_code == SI_MESGQ);
        t_say("si_value.sival_int %d", info.si_value.sival_int);
        t_check("si_pid is the sender (this process)", info.si_pid == getpid());
    }

    EXPECT_EQ(mq_notify(q, &ev), 0);           /* one-shot: the old registration is gone */
    EXPECT_EQ(mq_send(q, "second", 6, 0), 0);  /* queue not empty: no notification */
    t_check("no signal for a send to a non-empty queue", !pending_usr1(&info));
    EXPECT_ERR(mq_notify(q, &ev), EBUSY);      /* ... and the registration is still there */

    char buf[8];
    EXPECT_EQ(mq_receive(q, buf, sizeof buf, NULL), 5);
    EXPECT_EQ(mq_receive(q, buf, sizeof buf, NULL), 6);
    EXPECT_EQ(mq_send(q, "third", 5, 0), 0);   /* empty -> non-empty again: fires */
    t_check("SIGUSR1 pending after the queue became non-empty again", pending_usr1(&info));

    EXPECT_EQ(mq_close(q), 0);
    EXPECT_EQ(mq_unlink(name), 0);
    return t_finish();
}
