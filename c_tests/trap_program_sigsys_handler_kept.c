/* mqt: env MQSHIM_SYSCALLS=trap */
/* A program's own SIGSYS handler keeps working: sigaction reports it back, a SIGSYS the program
 * sends itself reaches it (with its siginfo), and signal() replaces it as usual. Under
 * MQSHIM_SYSCALLS=trap the library owns the real SIGSYS handler and chains to the program's. */
#include "harness.h"

static volatile sig_atomic_t seen_info, seen_plain, seen_code;

static void on_sys_info(int sig, siginfo_t *si, void *ctx)
{
    (void)sig;
    (void)ctx;
    seen_info++;
    seen_code = si->si_code;
}

static void on_sys_plain(int sig) { (void)sig; seen_plain++; }

int main(void)
{
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sys_info;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    EXPECT_EQ(sigaction(SIGSYS, &sa, &old), 0);
    t_check("the previous action was the default", old.sa_handler == SIG_DFL);
    EXPECT_EQ(sigaction(SIGSYS, NULL, &old), 0);
    t_check("sigaction reports the program's handler", old.sa_sigaction == on_sys_info && (old.sa_flags & SA_SIGINFO));
    EXPECT_EQ(raise(SIGSYS), 0);
    t_check("its handler ran once, with SI_TKILL", seen_info == 1 && seen_code == SI_TKILL);

    t_check("signal() returns the previous handler", (void *)signal(SIGSYS, on_sys_plain) == (void *)on_sys_info);
    EXPECT_EQ(raise(SIGSYS), 0);
    t_check("the new handler ran", seen_plain == 1 && seen_info == 1);
    t_check("SIG_IGN replaces it", signal(SIGSYS, SIG_IGN) == on_sys_plain);
    EXPECT_EQ(raise(SIGSYS), 0);
    t_check("an ignored SIGSYS is ignored", seen_plain == 1);
    return t_finish();
}
