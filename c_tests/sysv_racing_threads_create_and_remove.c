/* mqt: */
/* Threads of one process that create and remove System V queues at the same time all succeed,
 * as on the kernel: each msgget(IPC_PRIVATE) gives a new queue and each IPC_RMID removes it.
 * (With creation taking no lock, two threads of a process built one index aside under one file
 * name, the process's pid, and one removed the other's: msgget failed with ENOMEM, 83-93 times
 * in 20 000 creations by 4 threads. Before that, the registry lock serialised them.)
 *
 * THREADS threads each create and remove ROUNDS queues, private ones and, one in eight, one on
 * a key of their own; the transcript says how many calls failed (none) and whether any queue
 * is left. The failure above needs a thread preempted in the middle of a creation while the
 * others go round the ids, so it shows in most runs, not all; the unit test
 * `two_threads_creating_one_index_get_one_segment` pins it every time. */
#include "harness.h"
#include <pthread.h>

#define THREADS 8
#define ROUNDS 2000

static key_t keys[THREADS];
static int failures[THREADS];
static int last_errno[THREADS];
static unsigned long msgget_calls[THREADS], msgctl_calls[THREADS];

/* The calls are made past the harness's counting macros (its counters are not atomic) and
 * counted per thread, then added to the harness's counts once the threads are joined. */
static void *churn(void *arg)
{
    int t = (int)(long)arg;
    for (int i = 0; i < ROUNDS; i++) {
        key_t key = i % 8 == 7 ? keys[t] : IPC_PRIVATE;
        msgget_calls[t]++;
        int id = (msgget)(key, IPC_CREAT | IPC_EXCL | 0600);
        if (id >= 0)
            msgctl_calls[t]++;
        if (id < 0 || (msgctl)(id, IPC_RMID, NULL) != 0) {
            failures[t]++;
            last_errno[t] = errno;
        }
    }
    return NULL;
}

int main(void)
{
    for (int t = 0; t < THREADS; t++) {
        char tag[16];
        snprintf(tag, sizeof tag, "thr%d", t);
        int id = t_msgget_new(tag, 0600, &keys[t]);   /* a free key of this run: made, removed */
        T_REQUIRE(msgctl(id, IPC_RMID, NULL) == 0);
    }
    pthread_t th[THREADS];
    for (int t = 0; t < THREADS; t++)
        T_REQUIRE(pthread_create(&th[t], NULL, churn, (void *)(long)t) == 0);
    int failed = 0;
    for (int t = 0; t < THREADS; t++) {
        T_REQUIRE(pthread_join(th[t], NULL) == 0);
        t_counts[T_MSGGET] += msgget_calls[t];
        t_counts[T_MSGCTL] += msgctl_calls[t];
        failed += failures[t];
        if (failures[t])
            fprintf(stderr, "thread %d: %d failed, the last with %s\n", t, failures[t], t_errno_name(last_errno[t]));
    }
    t_say("failed calls: %d", failed);
    if (failed)
        t_failures++;
    int left = 0;
    for (int t = 0; t < THREADS; t++)
        left += msgget(keys[t], 0) >= 0;
    t_say("queues left on the threads' keys: %d", left);
    return t_finish();
}
