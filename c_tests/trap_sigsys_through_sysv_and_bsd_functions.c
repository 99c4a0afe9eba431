/* mqt: env MQSHIM_SYSCALLS=trap */
/* A program may set its SIGSYS disposition, or block SIGSYS, through any of libc's older
 * functions, not only sigaction and signal: bsd_signal, ssignal, sysv_signal, __sysv_signal,
 * sigset, sigignore, siginterrupt, sighold, sigblock, sigsetmask. Each does what it does on the
 * kernel (the handler runs on a SIGSYS the program raises; System V's is one-shot; sigaction
 * reports what was set), and a raw queue system call made afterwards still works. Under
 * MQSHIM_SYSCALLS=trap the library owns the real SIGSYS handler and keeps SIGSYS unblocked
 * (a blocked SIGSYS from the trap's filter would kill the process), so these functions must
 * record the program's action as sigaction does instead of replacing the library's. */
#include "harness.h"
#include "mqt_raw.h"

#pragma GCC diagnostic ignored "-Wdeprecated-declarations" /* sighold & co. are deprecated; programs still call them */

extern __sighandler_t bsd_signal(int, __sighandler_t);
extern __sighandler_t ssignal(int, __sighandler_t);

static volatile sig_atomic_t seen_one, seen_two;
static void on_sys_one(int sig) { (void)sig; seen_one++; }
static void on_sys_two(int sig) { (void)sig; seen_two++; }

static mqd_t q;

/* A raw mq_getsetattr of the queue: the call the trap serves. */
static void raw_call(const char *after)
{
    struct mq_attr a;
    memset(&a, 0, sizeof a);
    long r = raw_mq_getsetattr(q, NULL, &a);
    printf("after %s: raw mq_getsetattr -> %ld, maxmsg %ld\n", after, r, r == 0 ? (long)a.mq_maxmsg : -1L);
}

/* What sigaction says the SIGSYS disposition is. */
static const char *disposition(void)
{
    struct sigaction old;
    if (sigaction(SIGSYS, NULL, &old) != 0)
        return "sigaction failed";
    if (old.sa_handler == SIG_DFL)
        return "default";
    if (old.sa_handler == SIG_IGN)
        return "ignored";
    if (old.sa_handler == on_sys_one)
        return (old.sa_flags & SA_RESTART) ? "handler one, restarting" : "handler one";
    if (old.sa_handler == on_sys_two)
        return (old.sa_flags & SA_RESTART) ? "handler two, restarting" : "handler two";
    return "something else";
}

int main(void)
{
    const char *name = t_qname("sigsys");
    q = t_mq_create("sigsys", 3, 16, 0);

    t_say("-- setting the disposition");
    t_check("sigset returns the default", sigset(SIGSYS, on_sys_one) == SIG_DFL);
    raw_call("sigset");
    EXPECT_EQ(raise(SIGSYS), 0);
    t_check("sigset's handler ran", seen_one == 1);
    t_say("  disposition: %s", disposition());

    t_check("bsd_signal returns it", bsd_signal(SIGSYS, on_sys_two) == on_sys_one);
    raw_call("bsd_signal");
    EXPECT_EQ(raise(SIGSYS), 0);
    t_check("bsd_signal's handler ran", seen_two == 1);
    t_say("  disposition: %s", disposition());
    EXPECT_EQ(siginterrupt(SIGSYS, 1), 0);
    t_say("  after siginterrupt(1): %s", disposition());
    EXPECT_EQ(siginterrupt(SIGSYS, 0), 0);
    t_say("  after siginterrupt(0): %s", disposition());

    t_check("ssignal returns it", ssignal(SIGSYS, on_sys_one) == on_sys_two);
    raw_call("ssignal");
    EXPECT_EQ(raise(SIGSYS), 0);
    t_check("ssignal's handler ran", seen_one == 2);

    t_check("sysv_signal returns it", sysv_signal(SIGSYS, on_sys_two) == on_sys_one);
    raw_call("sysv_signal");
    t_say("  disposition: %s", disposition());
    EXPECT_EQ(raise(SIGSYS), 0);
    t_check("sysv_signal's handler ran", seen_two == 2);
    t_say("  then (one-shot): %s", disposition());

    t_check("__sysv_signal returns the default", __sysv_signal(SIGSYS, on_sys_one) == SIG_DFL);
    raw_call("__sysv_signal");
    EXPECT_EQ(raise(SIGSYS), 0);
    t_check("__sysv_signal's handler ran", seen_one == 3);
    t_say("  then (one-shot): %s", disposition());

    EXPECT_EQ(sigignore(SIGSYS), 0);
    raw_call("sigignore");
    t_say("  disposition: %s", disposition());
    EXPECT_EQ(raise(SIGSYS), 0);
    t_check("an ignored SIGSYS is ignored", seen_one == 3 && seen_two == 2);

    t_say("-- blocking SIGSYS");
    EXPECT_EQ(sighold(SIGSYS), 0);
    raw_call("sighold");
    EXPECT_EQ(sigrelse(SIGSYS), 0);
    sigblock(1 << (SIGSYS - 1));
    raw_call("sigblock");
    sigsetmask(0);
    sigsetmask(1 << (SIGSYS - 1));
    raw_call("sigsetmask");
    sigsetmask(0);
    t_check("sigset(SIG_HOLD) returns the disposition", sigset(SIGSYS, SIG_HOLD) == SIG_IGN);
    raw_call("sigset(SIG_HOLD)");

    EXPECT_EQ(mq_close(q), 0);
    EXPECT_EQ(mq_unlink(name), 0);
    return t_finish();
}
