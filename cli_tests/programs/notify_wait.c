/* notify_wait QNAME READY_FILE: creates QNAME (0622: others may send), registers this process for a
 * SIGEV_SIGNAL notification (SIGUSR1, value 42) and writes READY_FILE once it is registered;
 * then waits up to 10 s for the signal and prints what it carried ("signal: SI_MESGQ value=42
 * uid=U"), or "signal: none"; removes the queue. (Built static by run_static_notify_relay.sh.) */
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    sigset_t usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    sigprocmask(SIG_BLOCK, &usr1, NULL);
    umask(0);
    struct mq_attr a = { .mq_maxmsg = 4, .mq_msgsize = 64 };
    mqd_t q = mq_open(argv[1], O_RDWR | O_CREAT | O_EXCL, 0622, &a);
    if (q == (mqd_t)-1) {
        printf("mq_open: %s\n", strerror(errno));
        return 1;
    }
    struct sigevent e = { .sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGUSR1 };
    e.sigev_value.sival_int = 42;
    if (mq_notify(q, &e) != 0) {
        printf("mq_notify: %s\n", strerror(errno));
        mq_unlink(argv[1]);
        return 1;
    }
    FILE *ready = fopen(argv[2], "w");
    if (ready)
        fclose(ready);
    siginfo_t si;
    struct timespec limit = { .tv_sec = 10 };
    if (sigtimedwait(&usr1, &si, &limit) == SIGUSR1)
        printf("signal: %s value=%d uid=%u\n", si.si_code == SI_MESGQ ? "SI_MESGQ" : "other code",
               si.si_value.sival_int, (unsigned)si.si_uid);
    else
        printf("signal: none\n");
    mq_close(q);
    mq_unlink(argv[1]);
    return 0;
}
