/* run_kernel_probe NAME: run WITHOUT the library. Prints "kernel: present" when the kernel has
 * a POSIX queue NAME (and then unlinks it: the probe is also the tests' cleanup), else
 * "kernel: absent (ERRNO)". */
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
    if (argc != 2)
        return 2;
    mqd_t q = mq_open(argv[1], O_RDONLY);
    if (q == (mqd_t)-1) {
        printf("kernel: absent (%s)\n", strerror(errno));
        return 0;
    }
    mq_close(q);
    mq_unlink(argv[1]);
    printf("kernel: present\n");
    return 0;
}
