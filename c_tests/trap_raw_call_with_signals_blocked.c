/* mqt: env MQSHIM_SYSCALLS=trap */
/* A raw queue system call works in a thread that has blocked every signal, and in a signal
 * handler whose mask holds every signal — as on the kernel. Under MQSHIM_SYSCALLS=trap the call
 * arrives as a SIGSYS, which the kernel would turn into a kill if it were blocked: the library
 * keeps SIGSYS out of every mask the program sets. */
#include "harness.h"
#include "mqt_raw.h"
#include <pthread.h>

static int q;
static volatile long in_handler = -2;

static void on_usr1(int sig)
{
    (void)sig;
    struct mq_attr a;
    in_handler = syscall(SYS_mq_getsetattr, q, NULL, &a) == 0 ? a.mq_curmsgs : -1;
}

static void *blocked_thread(void *arg)
{
    (void)arg;
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    return (void *)raw_mq_timedsend(q, "t", 1, 0, NULL);
}

int main(void)
{
    const char *name = t_qname("blocked");
    q = t_mq_create("blocked", 4, 8, 0);

    sigset_t all, old;
    sigfillset(&all);
    EXPECT_EQ(sigprocmask(SIG_BLOCK, &all, &old), 0);
    EXPECT_EQ(raw_mq_timedsend(q, "m", 1, 0, NULL), 0);
    EXPECT_EQ(sigprocmask(SIG_SETMASK, &old, NULL), 0);

    pthread_t t;
    void *ret;
    pthread_create(&t, NULL, blocked_thread, NULL);
    pthread_join(t, &ret);
    t_say("send from a thread with every signal blocked -> %ld", (long)ret);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sigfillset(&sa.sa_mask);
    EXPECT_EQ(sigaction(SIGUSR1, &sa, NULL), 0);
    t_count(T_MQ_GETATTR);   /* the handler's raw mq_getsetattr */
    EXPECT_EQ(raise(SIGUSR1), 0);
    t_say("queue length seen by a handler that blocks every signal: %ld", in_handler);

    EXPECT_EQ(mq_close(q), 0);
    EXPECT_EQ(mq_unlink(name), 0);
    return t_finish();
}
