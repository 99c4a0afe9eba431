/* mqt: static skip-config static-kernel skip-config static-musl */
/* (static-kernel, static-musl: the supervisor makes the served mq_send itself, so the kernel fills the
 * notification's si_pid with the supervisor's pid, not the sender's.) */
/* A SIGEV_SIGNAL notification reaches the registered process's SA_SIGINFO handler with
 * si_signo = the registered signal, si_code = SI_MESGQ, si_errno 0, si_value = the whole
 * registered sigev_value (all bits of sival_ptr), si_pid = the process that sent the message
 * (its pid even when a second thread sent it) and si_uid = the sender's *real* uid: 0 for a root
 * child, 65534 for a child that became nobody (sending through the descriptor it inherited),
 * 65534 for one with real uid nobody and effective uid root, 0 for one with real uid root and
 * effective uid nobody. */
#include "harness.h"
#include <grp.h>
#include <pthread.h>

#define NOBODY 65534
#define VALUE_BASE 0x5a5a000000000000ULL

static volatile sig_atomic_t hits;
static siginfo_t got;

static void on_usr1(int sig, siginfo_t *info, void *ctx)
{
    (void)sig;
    (void)ctx;
    got = *info;
    hits++;
}

static mqd_t q;

static void *send_from_thread(void *arg)
{
    (void)arg;
    t_check("sending from a thread that is not the main thread", gettid() != getpid());
    EXPECT_EQ(mq_send(q, "thread", 6, 0), 0);
    return NULL;
}

enum sender { ROOT, ROOT_THREAD, NOBODY_ALL, REAL_NOBODY_EFF_ROOT, REAL_ROOT_EFF_NOBODY };

static const char *const labels[] = {
    "a root child",
    "a second thread of a root child",
    "a child that became nobody",
    "a child with real uid nobody, effective uid root",
    "a child with real uid root, effective uid nobody",
};

static void round_with(enum sender who, sigset_t *usr1)
{
    t_say("-- sender: %s", labels[who]);
    struct sigevent ev;
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_SIGNAL;
    ev.sigev_signo = SIGUSR1;
    ev.sigev_value.sival_ptr = (void *)(uintptr_t)(VALUE_BASE + (unsigned)who + 1);
    EXPECT_EQ(mq_notify(q, &ev), 0);
    t_chan sent = t_chan_open();
    uid_t want_uid = 0;
    t_child c = t_spawn();
    if (c.pid == 0) {
        gid_t none = 0;
        switch (who) {
        case ROOT:
            EXPECT_EQ(mq_send(q, "root", 4, 0), 0);
            break;
        case ROOT_THREAD: {
            pthread_t t;
            T_REQUIRE(pthread_create(&t, NULL, send_from_thread, NULL) == 0);
            T_REQUIRE(pthread_join(t, NULL) == 0);
            break;
        }
        case NOBODY_ALL:
            T_REQUIRE(setgroups(0, &none) == 0);
            T_REQUIRE(setgid(NOBODY) == 0);
            T_REQUIRE(setuid(NOBODY) == 0);
            prctl(PR_SET_PDEATHSIG, SIGKILL);   /* the credential change cleared it */
            EXPECT_EQ(mq_send(q, "nobody", 6, 0), 0);
            break;
        case REAL_NOBODY_EFF_ROOT:
            T_REQUIRE(setresuid(NOBODY, 0, 0) == 0);
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            EXPECT_EQ(mq_send(q, "split", 5, 0), 0);
            break;
        case REAL_ROOT_EFF_NOBODY:
            T_REQUIRE(setresuid(0, NOBODY, 0) == 0);
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            EXPECT_EQ(mq_send(q, "split", 5, 0), 0);
            break;
        }
        t_chan_post(&sent);
        exit(t_child_status());
    }
    want_uid = (who == NOBODY_ALL || who == REAL_NOBODY_EFF_ROOT) ? NOBODY : 0;
    t_chan_wait(&sent);                         /* the child's mq_send has returned */
    hits = 0;
    sigprocmask(SIG_UNBLOCK, usr1, NULL);       /* the pending signal is handled here */
    sigprocmask(SIG_BLOCK, usr1, NULL);
    if (t_check("the handler ran once", hits == 1)) {
        t_check("si_signo is SIGUSR1", got.si_signo == SIGUSR1);
        t_check("si_code is SI_MESGQ", got.si_code == SI_MESGQ);
        t_check("si_errno is 0", got.si_errno == 0);
        t_say("si_value.sival_int %d", got.si_value.sival_int);
        t_check("si_value.sival_ptr is the registered pointer",
                got.si_value.sival_ptr == ev.sigev_value.sival_ptr);
        t_check("pid matches", got.si_pid == c.pid);
        t_check("uid matches", got.si_uid == want_uid);
    }
    t_join(&c, 0);
    char buf[8];
    EXPECT_OK(mq_receive(q, buf, sizeof buf, NULL));
}

int main(void)
{
    const char *name = t_qname("notifyinfo");
    q = t_mq_create("notifyinfo", 4, 8, 0);
    sigset_t usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    sigprocmask(SIG_BLOCK, &usr1, NULL);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_usr1;
    sa.sa_flags = SA_SIGINFO;
    T_REQUIRE(sigaction(SIGUSR1, &sa, NULL) == 0);

    round_with(ROOT, &usr1);
    round_with(ROOT_THREAD, &usr1);
    round_with(NOBODY_ALL, &usr1);
    round_with(REAL_NOBODY_EFF_ROOT, &usr1);
    round_with(REAL_ROOT_EFF_NOBODY, &usr1);

    EXPECT_EQ(mq_close(q), 0);
    EXPECT_EQ(mq_unlink(name), 0);
    return t_finish();
}
