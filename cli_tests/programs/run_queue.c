/* run_queue NAME [keep|hold]: what `mqshim run`'s tests run under the launcher. Opens (creating)
 * the POSIX queue NAME (maxmsg 4, msgsize 64), sends "hello" and prints each result. "keep"
 * leaves the queue for the test to inspect; "hold" prints "holding" and waits for a line on stdin
 * (the test's handshake) before closing and unlinking; otherwise it closes and unlinks. Exit 0,
 * or 4 when mq_open fails, 5 when mq_send fails. */
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: run_queue NAME [keep|hold]\n");
        return 2;
    }
    const char *mode = argc > 2 ? argv[2] : "";
    struct mq_attr attr = {.mq_maxmsg = 4, .mq_msgsize = 64};
    mqd_t q = mq_open(argv[1], O_RDWR | O_CREAT, 0600, &attr);
    if (q == (mqd_t)-1) {
        printf("mq_open: %s\n", strerror(errno));
        return 4;
    }
    printf("mq_open: ok\n");
    if (mq_send(q, "hello", 5, 1) == -1) {
        printf("mq_send: %s\n", strerror(errno));
        return 5;
    }
    printf("mq_send: ok\n");
    fflush(stdout);
    if (strcmp(mode, "keep") == 0)
        return 0;
    if (strcmp(mode, "hold") == 0) {
        printf("holding\n");
        fflush(stdout);
        char c;
        if (read(0, &c, 1) < 0)
            return 6;
    }
    mq_close(q);
    mq_unlink(argv[1]);
    return 0;
}
