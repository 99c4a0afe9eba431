/* redis_client — one queue client for the Redis backend's two-host tests (cli_tests/redis_*.sh),
 * the same program for both APIs so each test is written once and run on POSIX and System V.
 *
 *   redis_client posix|sysv OP QUEUE [ARGS]      QUEUE: "/name" (POSIX) or a key (SysV: 0x... or
 *                                                decimal)
 *   create [MAXMSG MSGSIZE]   POSIX: O_CREAT|O_EXCL, maxmsg/msgsize (default 10 x 64); SysV:
 *                             IPC_CREAT|IPC_EXCL (MAXMSG x MSGSIZE, if given, becomes msg_qbytes)
 *   send FROM TO [PRIO [PACE_US]]  sends "m<i>" for i in [FROM, TO) (POSIX priority PRIO,
 *                             default 1; SysV type 1), blocking when full; PACE_US microseconds
 *                             apart (default 0)
 *   stop N                    sends N "STOP" messages (POSIX priority 0: after every "m<i>")
 *   recv-loop                 receives until "STOP": one "got BODY" line per message; an error
 *                             prints "err ERRNO MS" and the loop goes on (10 ms later)
 *   send-loop STOPFILE        sends m0, m1, ... until STOPFILE exists: "ok I MS" or "err I ERRNO MS"
 *                             per call (an error moves on to the next I, 10 ms later); last
 *                             "maxms MS" = the longest call
 *   recv1 [TIMEOUT_MS]        prints "ready", then one receive (POSIX: mq_timedreceive with an
 *                             absolute deadline TIMEOUT_MS from now; -1 = a deadline already
 *                             past), prints "got BODY MS" or "err ERRNO MS"
 *   recv1-go                  like recv1 (blocking), but after "ready" it waits for a line on
 *                             stdin before receiving: the caller controls when the call starts
 *   send1 BODY [TIMEOUT_MS]   prints "ready", one send (likewise timed), "sent MS" / "err ERRNO MS"
 *   count                     prints the number of messages (mq_curmsgs / msg_qnum)
 *   drain                     receives without blocking until empty: "got BODY" per message
 *   remove                    mq_unlink / IPC_RMID: "removed" or "err ERRNO"
 *   session                   opens the existing queue ("open" / "err ERRNO"), then runs commands
 *                             read from stdin, one a line, answering one line each: "send BODY",
 *                             "recv" (non-blocking), "recv-in T" (a receive with a deadline
 *                             T ms ahead; -1: already passed, -2: none: "got BODY after MS ms" /
 *                             "err ERRNO after MS ms"), "count", "reopen" (opens the name again:
 *                             "open" / "err ERRNO"), "close" (mq_close; SysV: nothing):
 *                             "closed", "quit"
 * MS = the call's duration in milliseconds (CLOCK_MONOTONIC). Every line is one write(2), so a
 * process killed with -9 has written whole lines only. Exit status: 0, or 1 on a usage error or
 * a failed setup call. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BODY_MAX 8192

static int posix_api;
static const char *qname;
static key_t qkey;
static mqd_t mqd = (mqd_t)-1;
static int msqid = -1;

struct sysv_msg {
    long mtype;
    char mtext[BODY_MAX];
};

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    char line[BODY_MAX + 128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line - 1, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if (n > (int)sizeof line - 2) n = (int)sizeof line - 2;
    line[n++] = '\n';
    ssize_t off = 0;
    while (off < n) {
        ssize_t w = write(1, line + off, (size_t)(n - off));
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return;
        off += w;
    }
}

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static const char *errname(int e)
{
    switch (e) {
    case EAGAIN: return "EAGAIN";
    case EINTR: return "EINTR";
    case EIO: return "EIO";
    case ENOENT: return "ENOENT";
    case EBADF: return "EBADF";
    case EINVAL: return "EINVAL";
    case EIDRM: return "EIDRM";
    case ENOMSG: return "ENOMSG";
    case EACCES: return "EACCES";
    case EEXIST: return "EEXIST";
    case EMSGSIZE: return "EMSGSIZE";
    case ETIMEDOUT: return "ETIMEDOUT";
    case ECONNREFUSED: return "ECONNREFUSED";
    case ECONNRESET: return "ECONNRESET";
    case EPIPE: return "EPIPE";
    case ENOTCONN: return "ENOTCONN";
    case EHOSTUNREACH: return "EHOSTUNREACH";
    case ENOSPC: return "ENOSPC";
    case E2BIG: return "E2BIG";
    default: {
        static char other[32];
        snprintf(other, sizeof other, "E#%d", e);
        return other;
    }
    }
}

static void pause_ms(int ms)
{
    struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&t, &t) == -1 && errno == EINTR) {
    }
}

/* The absolute CLOCK_REALTIME deadline `ms` from now (negative: one second in the past). */
static struct timespec deadline_in(long ms)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    if (ms < 0) {
        t.tv_sec -= 1;
        return t;
    }
    t.tv_sec += ms / 1000;
    t.tv_nsec += (ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}

static int open_queue(void)
{
    if (posix_api) {
        mqd = mq_open(qname, O_RDWR);
        return mqd == (mqd_t)-1 ? -1 : 0;
    }
    msqid = msgget(qkey, 0);
    return msqid == -1 ? -1 : 0;
}

/* One send: 0 or -1 with errno. timeout_ms: -2 = blocking, -3 = non-blocking, else timed. */
static int send_one(const char *body, unsigned prio, long timeout_ms)
{
    size_t len = strlen(body);
    if (posix_api) {
        if (timeout_ms == -2) return mq_send(mqd, body, len, prio);
        if (timeout_ms == -3) {   /* a deadline already past: the kernel's non-blocking form */
            struct timespec past = deadline_in(-1);
            int r = mq_timedsend(mqd, body, len, prio, &past);
            if (r == -1 && errno == ETIMEDOUT) errno = EAGAIN;
            return r;
        }
        struct timespec dl = deadline_in(timeout_ms);
        return mq_timedsend(mqd, body, len, prio, &dl);
    }
    struct sysv_msg m;
    m.mtype = 1;
    memcpy(m.mtext, body, len);
    return msgsnd(msqid, &m, len, timeout_ms == -3 ? IPC_NOWAIT : 0);
}

/* One receive into body (NUL-terminated): its length or -1 with errno. */
static ssize_t recv_one(char *body, long timeout_ms)
{
    ssize_t n;
    if (posix_api) {
        unsigned prio;
        if (timeout_ms == -2) {
            n = mq_receive(mqd, body, BODY_MAX, &prio);
        } else if (timeout_ms == -3) {
            struct timespec past = deadline_in(-1);
            n = mq_timedreceive(mqd, body, BODY_MAX, &prio, &past);
            if (n == -1 && errno == ETIMEDOUT) errno = EAGAIN;
        } else {
            struct timespec dl = deadline_in(timeout_ms);
            n = mq_timedreceive(mqd, body, BODY_MAX, &prio, &dl);
        }
    } else {
        static struct sysv_msg m;
        n = msgrcv(msqid, &m, BODY_MAX - 1, 0, timeout_ms == -3 ? IPC_NOWAIT : 0);
        if (n >= 0) memcpy(body, m.mtext, (size_t)n);
    }
    if (n >= 0) body[n] = '\0';
    return n;
}

static long count_messages(void)
{
    if (posix_api) {
        struct mq_attr a;
        return mq_getattr(mqd, &a) == -1 ? -1 : a.mq_curmsgs;
    }
    struct msqid_ds ds;
    return msgctl(msqid, IPC_STAT, &ds) == -1 ? -1 : (long)ds.msg_qnum;
}

static int usage(void)
{
    fprintf(stderr, "usage: redis_client posix|sysv OP QUEUE [ARGS] (see the source)\n");
    return 1;
}

static int need_open(void)
{
    if (open_queue() == 0) return 0;
    say("err %s open", errname(errno));
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 4) return usage();
    posix_api = strcmp(argv[1], "posix") == 0;
    if (!posix_api && strcmp(argv[1], "sysv") != 0) return usage();
    const char *op = argv[2];
    qname = argv[3];
    qkey = (key_t)strtoul(argv[3], NULL, 0);
    char body[BODY_MAX + 1];

    if (strcmp(op, "create") == 0) {
        long maxmsg = argc > 5 ? atol(argv[4]) : 10, msgsize = argc > 5 ? atol(argv[5]) : 64;
        if (posix_api) {
            struct mq_attr a = {.mq_maxmsg = maxmsg, .mq_msgsize = msgsize};
            mqd = mq_open(qname, O_RDWR | O_CREAT | O_EXCL, 0666, &a);
            if (mqd == (mqd_t)-1) {
                say("err %s create", errname(errno));
                return 1;
            }
        } else {
            msqid = msgget(qkey, IPC_CREAT | IPC_EXCL | 0666);
            if (msqid == -1) {
                say("err %s create", errname(errno));
                return 1;
            }
            if (argc > 5) {
                struct msqid_ds ds;
                if (msgctl(msqid, IPC_STAT, &ds) == -1) return 1;
                ds.msg_qbytes = (msglen_t)(maxmsg * msgsize);
                if (msgctl(msqid, IPC_SET, &ds) == -1) {
                    say("err %s ipc_set", errname(errno));
                    return 1;
                }
            }
        }
        say("created");
        return 0;
    }
    if (strcmp(op, "remove") == 0) {
        int r;
        if (posix_api) {
            r = mq_unlink(qname);
        } else {
            msqid = msgget(qkey, 0);
            r = msqid == -1 ? -1 : msgctl(msqid, IPC_RMID, NULL);
        }
        if (r == -1) say("err %s", errname(errno));
        else say("removed");
        return 0;
    }
    if (strcmp(op, "session") == 0) {
        if (open_queue() == -1) say("err %s", errname(errno));
        else say("open");
        char line[512];
        while (fgets(line, sizeof line, stdin)) {
            line[strcspn(line, "\n")] = '\0';
            if (strncmp(line, "send ", 5) == 0) {
                if (send_one(line + 5, 1, -3) == -1) say("err %s", errname(errno));
                else say("sent");
            } else if (strcmp(line, "recv") == 0) {
                if (recv_one(body, -3) == -1) say("err %s", errname(errno));
                else say("got %s", body);
            } else if (strncmp(line, "recv-in ", 8) == 0) {
                /* recv-in MS: a receive with a deadline MS ms ahead (-1: passed; -2: none) */
                struct timespec t0, t1;
                clock_gettime(CLOCK_MONOTONIC, &t0);
                ssize_t n = recv_one(body, atol(line + 8));
                int e = errno;
                clock_gettime(CLOCK_MONOTONIC, &t1);
                long took = (long)(t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
                if (n == -1) say("err %s after %ld ms", errname(e), took);
                else say("got %s after %ld ms", body, took);
            } else if (strcmp(line, "count") == 0) {
                long c = count_messages();
                if (c == -1) say("err %s", errname(errno));
                else say("count %ld", c);
            } else if (strcmp(line, "reopen") == 0) {
                mqd_t keep = mqd;
                int keep_id = msqid;
                if (open_queue() == -1) say("err %s", errname(errno));
                else say("open");
                if (posix_api && mqd != keep && mqd != (mqd_t)-1) mq_close(mqd);
                mqd = keep;
                msqid = keep_id;
            } else if (strcmp(line, "close") == 0) {
                if (posix_api && mq_close(mqd) == -1) say("err %s", errname(errno));
                else say("closed");
                mqd = (mqd_t)-1;
            } else if (strcmp(line, "quit") == 0) {
                break;
            } else {
                say("what? %s", line);
            }
        }
        return 0;
    }

    if (need_open()) return 1;
    if (strcmp(op, "send") == 0 && argc > 5) {
        long from = atol(argv[4]), to = atol(argv[5]);
        unsigned prio = argc > 6 ? (unsigned)atoi(argv[6]) : 1;
        long pace_us = argc > 7 ? atol(argv[7]) : 0;
        for (long i = from; i < to; i++) {
            if (pace_us > 0 && i > from) {
                struct timespec t = {pace_us / 1000000, (pace_us % 1000000) * 1000L};
                while (nanosleep(&t, &t) == -1 && errno == EINTR) {
                }
            }
            snprintf(body, sizeof body, "m%ld", i);
            if (send_one(body, prio, -2) == -1) {
                say("err %s send %ld", errname(errno), i);
                return 1;
            }
        }
        return 0;
    }
    if (strcmp(op, "stop") == 0 && argc > 4) {
        for (int i = 0; i < atoi(argv[4]); i++)
            if (send_one("STOP", 0, -2) == -1) {
                say("err %s stop", errname(errno));
                return 1;
            }
        return 0;
    }
    if (strcmp(op, "recv-loop") == 0) {
        for (;;) {
            double t0 = now_ms();
            if (recv_one(body, -2) == -1) {
                say("err %s %.1f", errname(errno), now_ms() - t0);
                pause_ms(10);
                continue;
            }
            if (strcmp(body, "STOP") == 0) break;
            say("got %s", body);
        }
        say("done");
        return 0;
    }
    if (strcmp(op, "send-loop") == 0 && argc > 4) {
        double longest = 0;
        for (long i = 0; access(argv[4], F_OK) != 0; i++) {
            snprintf(body, sizeof body, "m%ld", i);
            double t0 = now_ms();
            int r = send_one(body, 1, -2);
            double d = now_ms() - t0;
            if (d > longest) longest = d;
            if (r == -1) {
                say("err %ld %s %.1f", i, errname(errno), d);
                pause_ms(10);
            } else {
                say("ok %ld %.1f", i, d);
            }
        }
        say("maxms %.1f", longest);
        return 0;
    }
    if (strcmp(op, "recv1") == 0 || strcmp(op, "recv1-go") == 0) {
        long timeout = argc > 4 ? atol(argv[4]) : -2;
        say("ready");
        if (strcmp(op, "recv1-go") == 0) {
            char go[16];
            if (!fgets(go, sizeof go, stdin)) return 1;
        }
        double t0 = now_ms();
        if (recv_one(body, timeout) == -1) say("err %s %.1f", errname(errno), now_ms() - t0);
        else say("got %s %.1f", body, now_ms() - t0);
        return 0;
    }
    if (strcmp(op, "send1") == 0 && argc > 4) {
        long timeout = argc > 5 ? atol(argv[5]) : -2;
        say("ready");
        double t0 = now_ms();
        if (send_one(argv[4], 1, timeout) == -1) say("err %s %.1f", errname(errno), now_ms() - t0);
        else say("sent %.1f", now_ms() - t0);
        return 0;
    }
    if (strcmp(op, "count") == 0) {
        long c = count_messages();
        if (c == -1) say("err %s", errname(errno));
        else say("%ld", c);
        return 0;
    }
    if (strcmp(op, "drain") == 0) {
        while (recv_one(body, -3) >= 0) say("got %s", body);
        if (errno != EAGAIN && errno != ENOMSG) say("err %s", errname(errno));
        return 0;
    }
    return usage();
}
