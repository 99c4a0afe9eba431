/* mqt: */
/* Shown failing on the code before (9334ed5, shim-redis): every call from the handler failed,
 * each with a panic's backtrace on stderr ("cannot access a Thread Local Storage value during
 * or after destruction"): the Redis backend kept its connection in thread-local storage, which
 * the main thread's exit destroys before the atexit handlers run. */
/* Queue calls made from an atexit handler work as anywhere else: a program that cleans its
 * queues up at exit (as this harness does) sends, receives and removes them there. Both APIs;
 * the handler prints what each call did, after main's own output. */
#include "harness.h"

static const char *pname;
static mqd_t pq = (mqd_t)-1;
static int sid = -1;

static void at_exit_calls(void)
{
    char buf[32];
    unsigned prio = 0;
    EXPECT_OK(mq_send(pq, "bye", 3, 2));
    EXPECT_EQ(mq_receive(pq, buf, sizeof buf, &prio), 3);
    t_say("POSIX: received \"%.3s\" at priority %u", buf, prio);
    EXPECT_OK(mq_close(pq));
    EXPECT_OK(mq_unlink(pname));
    EXPECT_ERR(mq_open(pname, O_RDONLY), ENOENT);

    struct { long mtype; char text[8]; } m = { 7, "bye" }, r;
    EXPECT_OK(msgsnd(sid, &m, 3, 0));
    EXPECT_EQ(msgrcv(sid, &r, sizeof r.text, 0, IPC_NOWAIT), 3);
    t_say("System V: received \"%.3s\" of type %ld", r.text, r.mtype);
    EXPECT_OK(msgctl(sid, IPC_RMID, NULL));
    EXPECT_ERR(msgsnd(sid, &m, 3, IPC_NOWAIT), EINVAL);
    fflush(stdout);
}

int main(void)
{
    struct mq_attr attr = { .mq_maxmsg = 4, .mq_msgsize = 16 };
    pname = t_qname("atexit");
    pq = (mqd_t)EXPECT_OK(mq_open(pname, O_CREAT | O_EXCL | O_RDWR, 0600, &attr));
    key_t key;
    sid = t_msgget_new("atexit", 0600, &key);
    /* Registered after the harness's own handler, so it runs first (handlers run in reverse). */
    T_REQUIRE(atexit(at_exit_calls) == 0);
    t_say("main returns; the handler runs after the last line");
    return t_finish();
}
