/* A queue opened with mq_open(3), then used only through raw system calls (syscall(2)) — as a
 * language runtime with its own wrappers would. Prints what the raw calls returned. */
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    struct mq_attr a = { .mq_maxmsg = 2, .mq_msgsize = 8 };
    mqd_t q = mq_open(argv[1], O_RDWR | O_CREAT | O_EXCL, 0600, &a);
    if (q == (mqd_t)-1) {
        printf("mq_open: %s\n", strerror(errno));
        return 1;
    }
    char buf[8];
    long sent = syscall(SYS_mq_timedsend, q, "raw", 3, 1, NULL);
    printf("raw send: %s\n", sent == 0 ? "0" : strerror(errno));
    long got = syscall(SYS_mq_timedreceive, q, buf, sizeof buf, NULL, NULL);
    printf("raw receive: %s\n", got == 3 ? "3" : strerror(errno));
    mq_close(q);
    mq_unlink(argv[1]);
    return sent == 0 && got == 3 ? 0 : 1;
}
