/* mqt: static skip-config static-musl */
/* (static-musl: musl's own SIGEV_THREAD helper gives the notification thread another stack size
 * and signal mask than glibc's, which this test pins: a libc difference, not mqshim's.) */
/* SIGEV_THREAD, as in mq_notify(3)'s example: when a message arrives on the empty queue (sent
 * here by another process), the registered function runs once, in a new thread of the
 * registered process (same pid, not the main thread), with the registered sival_ptr, on a
 * thread made with the registered pthread attributes (stack size and guard size as given),
 * detached, with no signal blocked even though the registering thread blocks one; like the
 * example, it reads the message through the descriptor sival_ptr points to. The registration is then gone:
 * the next message on the empty queue runs nothing and registering again succeeds; with
 * default attributes (NULL) the thread has the default stack size and is detached too. */
#include "harness.h"
#include <pthread.h>

#define STACK (512 * 1024)
#define GUARD (3 * 4096)
#define MAXRUNS 4

static mqd_t mqdes, mqdes_copy;
static t_chan ran;

static struct run {
    pid_t pid, tid;
    void *ptr;
    size_t stack, guard;
    int detached, blocked;
    long nread;
    char text[16];
} runs[MAXRUNS];
static volatile int nruns;

static void tfunc(union sigval sv)              /* thread start function */
{
    struct run *r = &runs[nruns < MAXRUNS ? nruns : MAXRUNS - 1];
    r->pid = getpid();
    r->tid = gettid();
    r->ptr = sv.sival_ptr;
    pthread_attr_t a;
    if (pthread_getattr_np(pthread_self(), &a) == 0) {
        int d = 0;
        pthread_attr_getstacksize(&a, &r->stack);
        pthread_attr_getguardsize(&a, &r->guard);
        pthread_attr_getdetachstate(&a, &d);
        r->detached = d == PTHREAD_CREATE_DETACHED;
        pthread_attr_destroy(&a);
    }
    sigset_t mask;
    pthread_sigmask(SIG_SETMASK, NULL, &mask);
    r->blocked = sigismember(&mask, SIGUSR2) == 1;

    /* The manual's example: find the message size, read one message. */
    mqd_t q = *((mqd_t *)sv.sival_ptr);
    struct mq_attr attr;
    r->nread = -1;
    if (mq_getattr(q, &attr) == 0 && attr.mq_msgsize <= (long)sizeof r->text)
        r->nread = mq_receive(q, r->text, sizeof r->text, NULL);
    nruns++;
    t_chan_post(&ran);
}

static void send_from_child(const char *text)
{
    t_child c = t_spawn();
    if (c.pid == 0) {
        EXPECT_EQ(mq_send(mqdes, text, strlen(text), 0), 0);
        exit(t_child_status());
    }
    t_join(&c, 0);
}

static void show(int i, void *want_ptr, size_t want_stack, size_t want_guard)
{
    struct run *r = &runs[i];
    t_check("  ran in the registered process", r->pid == getpid());
    t_check("  ran in a thread different from main", r->tid != getpid());
    t_check("  sival_ptr is the registered pointer", r->ptr == want_ptr);
    t_check("  stacksize matches", r->stack == want_stack);
    t_check("  guardsize matches", r->guard == want_guard);
    t_check("  thread is detached", r->detached);
    t_check("  SIGUSR2 (blocked in main) is not blocked in the thread", !r->blocked);
    if (r->nread >= 0) {
        t_say("  Read %ld bytes from MQ", r->nread);
        t_show_msg("  message", r->text, r->nread, 0);
    } else {
        t_say("  reading the message failed");
    }
}

int main(void)
{
    const char *name = t_qname("notifythr");
    mqdes = t_mq_create("notifythr", 4, 16, 0);
    mqdes_copy = mqdes;
    ran = t_chan_open();
    sigset_t usr2;
    sigemptyset(&usr2);
    sigaddset(&usr2, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &usr2, NULL);

    pthread_attr_t attr;
    T_REQUIRE(pthread_attr_init(&attr) == 0);
    T_REQUIRE(pthread_attr_setstacksize(&attr, STACK) == 0);
    T_REQUIRE(pthread_attr_setguardsize(&attr, GUARD) == 0);
    T_REQUIRE(pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED) == 0);

    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_THREAD;
    sev.sigev_notify_function = tfunc;
    sev.sigev_notify_attributes = &attr;
    sev.sigev_value.sival_ptr = &mqdes;         /* arg. to thread func. */

    t_say("-- registered with a %d KiB stack, %d KiB guard, detached", STACK / 1024, GUARD / 1024);
    EXPECT_EQ(mq_notify(mqdes, &sev), 0);
    EXPECT_ERR(mq_notify(mqdes, &sev), EBUSY);
    pthread_attr_destroy(&attr);                /* the registration keeps its own copy */
    send_from_child("hello");
    t_chan_wait(&ran);
    t_check("the function ran once", nruns == 1);
    show(0, &mqdes, STACK, GUARD);

    t_say("-- used up: the next message on the empty queue runs nothing");
    send_from_child("again");
    struct mq_attr a;
    EXPECT_EQ(mq_getattr(mqdes, &a), 0);
    t_check("the message is still queued (no function read it)", a.mq_curmsgs == 1);
    char buf[16];
    EXPECT_EQ(mq_receive(mqdes, buf, sizeof buf, NULL), 5);

    t_say("-- registering again succeeds; default attributes this time");
    sev.sigev_notify_attributes = NULL;
    sev.sigev_value.sival_ptr = &mqdes_copy;
    EXPECT_EQ(mq_notify(mqdes, &sev), 0);
    send_from_child("third");
    t_chan_wait(&ran);
    t_check("the function has run twice in all", nruns == 2);
    pthread_attr_t def;
    size_t def_stack = 0, def_guard = 0;
    T_REQUIRE(pthread_getattr_default_np(&def) == 0);
    pthread_attr_getstacksize(&def, &def_stack);
    pthread_attr_getguardsize(&def, &def_guard);
    pthread_attr_destroy(&def);
    if (nruns == 2)
        show(1, &mqdes_copy, def_stack, def_guard);
    EXPECT_EQ(mq_notify(mqdes, &sev), 0);
    EXPECT_EQ(mq_notify(mqdes, NULL), 0);

    EXPECT_EQ(mq_close(mqdes), 0);
    EXPECT_EQ(mq_unlink(name), 0);
    return t_finish();
}
