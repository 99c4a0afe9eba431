/* mqt: env MQSHIM_SYSCALLS=trap */
/* A signal handler that runs while sigsuspend, ppoll or pselect wait with a mask blocking every
 * other signal (SIGSYS included) may make a raw queue system call, and it works as on the
 * kernel. Under MQSHIM_SYSCALLS=trap that call raises SIGSYS, and a SIGSYS the trap's filter
 * forces while blocked kills the process: the masks these calls wait with must leave it out, as
 * sigprocmask's do. */
#include "harness.h"
#include "mqt_raw.h"

#include <poll.h>
#include <sys/select.h>

static mqd_t q;
static volatile long seen_maxmsg;

/* Makes the raw call and keeps what it said of the queue. */
static void on_usr1(int sig)
{
    (void)sig;
    struct mq_attr a;
    memset(&a, 0, sizeof a);
    seen_maxmsg = raw_mq_getsetattr(q, NULL, &a) == 0 ? a.mq_maxmsg : -1;
}

int main(void)
{
    const char *name = t_qname("susp");
    q = t_mq_create("susp", 3, 16, 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sigemptyset(&sa.sa_mask);
    EXPECT_EQ(sigaction(SIGUSR1, &sa, NULL), 0);
    sigset_t usr1, all_but_usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    EXPECT_EQ(sigprocmask(SIG_BLOCK, &usr1, NULL), 0);
    sigfillset(&all_but_usr1);
    sigdelset(&all_but_usr1, SIGUSR1);

    /* Each time SIGUSR1 is pending (blocked) first, so the call returns at once with EINTR
     * after the handler ran with the call's mask. */
    EXPECT_EQ(raise(SIGUSR1), 0);
    seen_maxmsg = 0;
    EXPECT_ERR(sigsuspend(&all_but_usr1), EINTR);
    t_say("handler's raw call during sigsuspend: maxmsg %ld", seen_maxmsg);

    EXPECT_EQ(raise(SIGUSR1), 0);
    seen_maxmsg = 0;
    EXPECT_ERR(ppoll(NULL, 0, NULL, &all_but_usr1), EINTR);
    t_say("handler's raw call during ppoll: maxmsg %ld", seen_maxmsg);

    EXPECT_EQ(raise(SIGUSR1), 0);
    seen_maxmsg = 0;
    EXPECT_ERR(pselect(0, NULL, NULL, NULL, NULL, &all_but_usr1), EINTR);
    t_say("handler's raw call during pselect: maxmsg %ld", seen_maxmsg);

    EXPECT_EQ(mq_close(q), 0);
    EXPECT_EQ(mq_unlink(name), 0);
    return t_finish();
}
