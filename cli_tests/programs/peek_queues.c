/* Queues for the `mqshim peek` test, made under the emulation (mqshim run).
 *   peek_queues fill /MIXED /RING KEY  /MIXED (maxmsg 10, msgsize 64): mixed priorities and two
 *                                      messages scheduled an hour and two hours ahead (prio 7 and
 *                                      2); /RING: falling priorities only (the express ring holds
 *                                      them); System V KEY (0600): types 5, 2, 9, 2 and one
 *                                      scheduled an hour ahead (type 4). Prints "msqid N".
 *   peek_queues notify /NAME           registers for mq_notify (SIGEV_NONE), prints
 *                                      "registered PID" and waits to be killed.
 *   peek_queues blocked-send /NAME     makes /NAME (maxmsg 2) full, prints "full PID", then
 *                                      sends "third", which blocks; prints "sent" once it is sent.
 *   peek_queues recv /NAME             receives one message without waiting: "prio P len L DATA".
 *   peek_queues msgrcv ID              receives the first message of any type without waiting:
 *                                      "type T len L DATA".
 *   peek_queues timed /NAME KEY        /NAME (maxmsg 10, msgsize 64) and System V KEY: "old"
 *                                      (prio/type 1), a second later "new" (1), then "due-soon"
 *                                      (prio/type 5) scheduled 200 ms ahead and "pending" (9) an
 *                                      hour ahead; prints "msqid N", then "old NS", "new NS" and
 *                                      "due NS": the CLOCK_REALTIME times of the sends and the
 *                                      due time. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/msg.h>
#include <time.h>
#include <unistd.h>

#include "../../include/mqshim.h"

static int die(const char *what)
{
    fprintf(stderr, "peek_queues: %s: %s\n", what, strerror(errno));
    return 1;
}

static void *symbol(const char *name)
{
    void *p = dlsym(RTLD_DEFAULT, name);
    if (p == NULL) {
        fprintf(stderr, "peek_queues: %s: not found (is libmqshim.so preloaded?)\n", name);
        exit(1);
    }
    return p;
}

static struct timespec ahead(int seconds)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    t.tv_sec += seconds;
    return t;
}

static int send(mqd_t q, const char *text, size_t len, unsigned prio)
{
    return mq_send(q, text, len, prio);
}

static int fill(const char *mixed, const char *ring, const char *key)
{
    struct mq_attr attr = {.mq_maxmsg = 10, .mq_msgsize = 64};
    mqd_t q = mq_open(mixed, O_CREAT | O_EXCL | O_WRONLY, 0640, &attr);
    if (q == (mqd_t)-1)
        return die("mq_open mixed");
    static const char long_text[] = "a long message, longer than the preview of 32 bytes";
    if (send(q, "low-first", 9, 1) || send(q, "high-a", 6, 5) || send(q, "high-b\n\001\"", 9, 5) || send(q, long_text, sizeof long_text - 1, 0) ||
        send(q, "mid", 3, 3))
        return die("mq_send mixed");
    int (*send_at)(mqd_t, const char *, size_t, unsigned, const struct timespec *, mqshim_handle_t *) = symbol("mqshim_mq_send_at");
    mqshim_handle_t h;
    struct timespec hour = ahead(3600), two = ahead(7200);
    if (send_at(q, "in two hours", 12, 2, &two, &h) || send_at(q, "in an hour", 10, 7, &hour, &h))
        return die("mqshim_mq_send_at");
    mq_close(q);
    q = mq_open(ring, O_CREAT | O_EXCL | O_WRONLY, 0640, &attr);
    if (q == (mqd_t)-1)
        return die("mq_open ring");
    if (send(q, "r1", 2, 3) || send(q, "r2", 2, 3) || send(q, "r3", 2, 1))
        return die("mq_send ring");
    mq_close(q);
    int id = msgget((key_t)strtol(key, NULL, 0), IPC_CREAT | IPC_EXCL | 0600);
    if (id < 0)
        return die("msgget");
    struct { long type; char text[8]; } m;
    long types[] = {5, 2, 9, 2};
    for (int i = 0; i < 4; i++) {
        m.type = types[i];
        int n = snprintf(m.text, sizeof m.text, "t%ld-%d", types[i], i);
        if (msgsnd(id, &m, (size_t)n, 0) != 0)
            return die("msgsnd");
    }
    int (*msgsnd_at)(int, const void *, size_t, int, const struct timespec *, mqshim_handle_t *) = symbol("mqshim_msgsnd_at");
    m.type = 4;
    memcpy(m.text, "later", 5);
    if (msgsnd_at(id, &m, 5, 0, &hour, &h) != 0)
        return die("mqshim_msgsnd_at");
    printf("msqid %d\n", id);
    return 0;
}

static long long ns_of(struct timespec t)
{
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static int timed(const char *name, const char *key)
{
    struct mq_attr attr = {.mq_maxmsg = 10, .mq_msgsize = 64};
    mqd_t q = mq_open(name, O_CREAT | O_EXCL | O_WRONLY, 0640, &attr);
    if (q == (mqd_t)-1)
        return die("mq_open");
    int id = msgget((key_t)strtol(key, NULL, 0), IPC_CREAT | IPC_EXCL | 0600);
    if (id < 0)
        return die("msgget");
    struct { long type; char text[16]; } m = {.type = 1};
    struct timespec old, new;
    clock_gettime(CLOCK_REALTIME, &old);
    memcpy(m.text, "old", 3);
    if (send(q, "old", 3, 1) || msgsnd(id, &m, 3, 0))
        return die("send old");
    usleep(1000000);
    clock_gettime(CLOCK_REALTIME, &new);
    memcpy(m.text, "new", 3);
    if (send(q, "new", 3, 1) || msgsnd(id, &m, 3, 0))
        return die("send new");
    int (*send_at)(mqd_t, const char *, size_t, unsigned, const struct timespec *, mqshim_handle_t *) = symbol("mqshim_mq_send_at");
    int (*msgsnd_at)(int, const void *, size_t, int, const struct timespec *, mqshim_handle_t *) = symbol("mqshim_msgsnd_at");
    mqshim_handle_t h;
    struct timespec due, hour = ahead(3600);
    clock_gettime(CLOCK_REALTIME, &due);
    due.tv_nsec += 200000000;
    if (due.tv_nsec >= 1000000000) {
        due.tv_sec++;
        due.tv_nsec -= 1000000000;
    }
    m.type = 5;
    memcpy(m.text, "due-soon", 8);
    if (send_at(q, "due-soon", 8, 5, &due, &h) || msgsnd_at(id, &m, 8, 0, &due, &h))
        return die("schedule due-soon");
    m.type = 9;
    memcpy(m.text, "pending", 7);
    if (send_at(q, "pending", 7, 9, &hour, &h) || msgsnd_at(id, &m, 7, 0, &hour, &h))
        return die("schedule pending");
    printf("msqid %d\nold %lld\nnew %lld\ndue %lld\n", id, ns_of(old), ns_of(new), ns_of(due));
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "fill") == 0)
        return fill(argv[2], argv[3], argv[4]);
    if (argc == 4 && strcmp(argv[1], "timed") == 0)
        return timed(argv[2], argv[3]);
    if (argc == 3 && strcmp(argv[1], "notify") == 0) {
        mqd_t q = mq_open(argv[2], O_RDONLY);
        if (q == (mqd_t)-1)
            return die("mq_open");
        struct sigevent sev = {.sigev_notify = SIGEV_NONE};
        if (mq_notify(q, &sev) != 0)
            return die("mq_notify");
        printf("registered %d\n", (int)getpid());
        fflush(stdout);
        for (;;)
            pause();
    }
    if (argc == 3 && strcmp(argv[1], "blocked-send") == 0) {
        struct mq_attr attr = {.mq_maxmsg = 2, .mq_msgsize = 16};
        mqd_t q = mq_open(argv[2], O_CREAT | O_EXCL | O_WRONLY, 0640, &attr);
        if (q == (mqd_t)-1)
            return die("mq_open");
        if (send(q, "first", 5, 1) || send(q, "second", 6, 1))
            return die("mq_send");
        printf("full %d\n", (int)getpid());
        fflush(stdout);
        if (send(q, "third", 5, 9))
            return die("mq_send third");
        printf("sent\n");
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "recv") == 0) {
        mqd_t q = mq_open(argv[2], O_RDONLY | O_NONBLOCK);
        if (q == (mqd_t)-1)
            return die("mq_open");
        char buf[64];
        unsigned prio;
        ssize_t n = mq_receive(q, buf, sizeof buf, &prio);
        if (n < 0)
            return die("mq_receive");
        printf("prio %u len %zd %.*s\n", prio, n, (int)n, buf);
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "msgrcv") == 0) {
        struct { long type; char text[64]; } m;
        ssize_t n = msgrcv(atoi(argv[2]), &m, sizeof m.text, 0, IPC_NOWAIT);
        if (n < 0)
            return die("msgrcv");
        printf("type %ld len %zd %.*s\n", m.type, n, (int)n, m.text);
        return 0;
    }
    fprintf(stderr, "usage: peek_queues fill /MIXED /RING KEY | timed /NAME KEY | notify /NAME | blocked-send /NAME | recv /NAME | msgrcv ID\n");
    return 2;
}
