/* mqt_seedtool — small helpers for seeds.sh's scenarios.
 *
 *   ftok PATH PROJ    print ftok(PATH, PROJ) as 0x%08x (to clean a stale queue with ipcrm -Q)
 *   unlink NAME...    mq_unlink each NAME; ENOENT is fine; prints "removed NAME" otherwise
 *   create NAME       mq_open(NAME, O_RDWR|O_CREAT, 0600, NULL) and mq_close: a default queue
 *   drain NAME        receive (non-blocking) until empty, printing each message and priority
 *   rmkey KEY         msgget(KEY, 0) and msgctl(IPC_RMID)
 *
 * run.sh/seeds.sh run it without the shim to clean up before and after the scenarios, and in
 * the configuration under test (then its calls are part of the scenario's expected counts). */
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>

static int fail(const char *what)
{
    printf("%s: %s\n", what, strerror(errno));
    return 1;
}

int main(int argc, char **argv)
{
    if (argc >= 4 && strcmp(argv[1], "ftok") == 0) {
        key_t key = ftok(argv[2], atoi(argv[3]));
        if (key == -1)
            return fail("ftok");
        printf("0x%08x\n", (unsigned)key);
        return 0;
    }
    if (argc >= 3 && strcmp(argv[1], "unlink") == 0) {
        int rc = 0;
        for (int i = 2; i < argc; i++) {
            if (mq_unlink(argv[i]) == 0)
                printf("removed %s\n", argv[i]);
            else if (errno != ENOENT)
                rc = fail("mq_unlink");
        }
        return rc;
    }
    if (argc == 3 && strcmp(argv[1], "create") == 0) {
        mqd_t q = mq_open(argv[2], O_RDWR | O_CREAT, 0600, NULL);
        if (q == (mqd_t)-1)
            return fail("mq_open");
        return mq_close(q) == 0 ? 0 : fail("mq_close");
    }
    if (argc == 3 && strcmp(argv[1], "drain") == 0) {
        mqd_t q = mq_open(argv[2], O_RDONLY | O_NONBLOCK);
        if (q == (mqd_t)-1)
            return fail("mq_open");
        struct mq_attr attr;
        if (mq_getattr(q, &attr) != 0)
            return fail("mq_getattr");
        char *buf = malloc((size_t)attr.mq_msgsize);
        unsigned prio;
        ssize_t n;
        while ((n = mq_receive(q, buf, (size_t)attr.mq_msgsize, &prio)) >= 0)
            printf("message \"%.*s\" (%zd bytes) prio %u\n", (int)strnlen(buf, (size_t)n), buf,
                   n, prio);
        if (errno != EAGAIN)
            return fail("mq_receive");
        free(buf);
        return mq_close(q) == 0 ? 0 : fail("mq_close");
    }
    if (argc == 3 && strcmp(argv[1], "rmkey") == 0) {
        int id = msgget((key_t)strtoul(argv[2], NULL, 0), 0);
        if (id < 0)
            return fail("msgget");
        return msgctl(id, IPC_RMID, NULL) == 0 ? 0 : fail("msgctl");
    }
    fprintf(stderr, "usage: see the comment at the top of mqt_seedtool.c\n");
    return 2;
}
