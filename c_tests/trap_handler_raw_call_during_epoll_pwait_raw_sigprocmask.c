/* mqt: env MQSHIM_SYSCALLS=trap */
/* A signal handler that runs while epoll_pwait or epoll_pwait2 wait with a mask blocking every
 * other signal (SIGSYS included), or after the program set such a mask with a raw
 * rt_sigprocmask through syscall(2), may make a raw queue system call, and it works as on the
 * kernel. Under MQSHIM_SYSCALLS=trap that call raises SIGSYS, which kills the process if the
 * mask blocks it: the trap leaves SIGSYS out of these masks, as it does for sigsuspend, ppoll
 * and pselect (trap_handler_raw_call_during_sigsuspend_ppoll.c). */
#include "harness.h"
#include "mqt_raw.h"

#include <sys/epoll.h>

int main(void)
{
    const char *name = t_qname("epw");
    sigset_t all_but_usr1;
    mqd_t q = raw_probe_start("epw", &all_but_usr1);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    t_check("epoll instance made", ep >= 0);
    struct epoll_event ev;

    /* Each time SIGUSR1 is pending (blocked) first, so the call returns at once with EINTR
     * after the handler ran with the call's mask. */
    EXPECT_EQ(raise(SIGUSR1), 0);
    raw_probe_maxmsg = 0;
    EXPECT_ERR(epoll_pwait(ep, &ev, 1, -1, &all_but_usr1), EINTR);
    t_say("handler's raw call during epoll_pwait: maxmsg %ld", raw_probe_maxmsg);

    EXPECT_EQ(raise(SIGUSR1), 0);
    raw_probe_maxmsg = 0;
    EXPECT_ERR(epoll_pwait2(ep, &ev, 1, NULL, &all_but_usr1), EINTR);
    t_say("handler's raw call during epoll_pwait2: maxmsg %ld", raw_probe_maxmsg);

    /* The kernel's sigset is 8 bytes (_NSIG / 8). SIGUSR1 stays unblocked, so raise runs the
     * handler at once, with the mask just set. */
    sigset_t before;
    EXPECT_EQ(syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all_but_usr1, &before, 8), 0);
    raw_probe_maxmsg = 0;
    EXPECT_EQ(raise(SIGUSR1), 0);
    t_say("handler's raw call after a raw rt_sigprocmask: maxmsg %ld", raw_probe_maxmsg);
    EXPECT_EQ(syscall(SYS_rt_sigprocmask, SIG_SETMASK, &before, NULL, 8), 0);

    EXPECT_EQ(close(ep), 0);
    EXPECT_EQ(mq_close(q), 0);
    EXPECT_EQ(mq_unlink(name), 0);
    return t_finish();
}
