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

int main(void)
{
    const char *name = t_qname("susp");
    sigset_t all_but_usr1;
    mqd_t q = raw_probe_start("susp", &all_but_usr1);

    /* Each time SIGUSR1 is pending (blocked) first, so the call returns at once with EINTR
     * after the handler ran with the call's mask. */
    EXPECT_EQ(raise(SIGUSR1), 0);
    raw_probe_maxmsg = 0;
    EXPECT_ERR(sigsuspend(&all_but_usr1), EINTR);
    t_say("handler's raw call during sigsuspend: maxmsg %ld", raw_probe_maxmsg);

    EXPECT_EQ(raise(SIGUSR1), 0);
    raw_probe_maxmsg = 0;
    EXPECT_ERR(ppoll(NULL, 0, NULL, &all_but_usr1), EINTR);
    t_say("handler's raw call during ppoll: maxmsg %ld", raw_probe_maxmsg);

    EXPECT_EQ(raise(SIGUSR1), 0);
    raw_probe_maxmsg = 0;
    EXPECT_ERR(pselect(0, NULL, NULL, NULL, NULL, &all_but_usr1), EINTR);
    t_say("handler's raw call during pselect: maxmsg %ld", raw_probe_maxmsg);

    EXPECT_EQ(mq_close(q), 0);
    EXPECT_EQ(mq_unlink(name), 0);
    return t_finish();
}
