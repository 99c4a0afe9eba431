/* A sysctl opened O_RDWR reads as the kernel's file: at position 0 the value in force, the
 * position moving by the count (a short read gives the start, the next read nothing); after a
 * write (which moves the position) nothing; lseek back to 0 reads the new value; pread,
 * readv, preadv and preadv2 at 0 give it too without moving the position. Closing a
 * descriptor that was only read leaves the value as it is (nothing is applied at close). One
 * opened O_WRONLY is not readable (EBADF, for readv too). A stream opened "r+" or "w+" reads
 * the value too, and after a write and fseek to 0 the new one. */
#include "harness.h"
#include "mqt_sysctl.h"
#include <sys/uio.h>

/* One read of `count` bytes by `how` ("read", "pread0", "readv", "preadv0", "preadv2cur"),
 * printed with the position after it. */
static void rd(int fd, const char *how, size_t count)
{
    char buf[64] = { 0 };
    size_t first = count < 1 ? count : 1;
    struct iovec two[2] = { { buf, first }, { buf + first, count - first } };
    errno = 0;
    ssize_t n;
    if (strcmp(how, "read") == 0)
        n = read(fd, buf, count);
    else if (strcmp(how, "pread0") == 0)
        n = pread(fd, buf, count, 0);
    else if (strcmp(how, "readv") == 0)
        n = readv(fd, two, 2);
    else if (strcmp(how, "preadv0") == 0)
        n = preadv(fd, two, 2, 0);
    else
        n = preadv2(fd, two, 2, -1, 0);
    int e = errno;
    printf("  %s %zu", how, count);
    if (n < 0)
        printf(" -> -1 %s", t_errno_name(e));
    else {
        printf(" -> %zd \"", n);
        sys_print_bytes(buf, (size_t)n);
        printf("\"");
    }
    printf(", position %ld\n", (long)lseek(fd, 0, SEEK_CUR));
}

/* One fgets of stream `f`, printed without its newline. */
static void show_line(const char *what, FILE *f, char *line, size_t size)
{
    if (!fgets(line, (int)size, f))
        snprintf(line, size, "(nothing)");
    line[strcspn(line, "\n")] = 0;
    printf("  %s \"%s\"\n", what, line);
}

int main(void)
{
    sys_private_ipc();
    int fd = open(SYS_MSG_MAX, O_RDWR);
    T_REQUIRE(fd >= 0);
    rd(fd, "read", 63);
    rd(fd, "read", 63);
    EXPECT_EQ(lseek(fd, 0, SEEK_SET), 0);
    rd(fd, "read", 1);
    rd(fd, "read", 63);
    rd(fd, "pread0", 63);
    EXPECT_EQ(close(fd), 0);
    sys_read(SYS_MSG_MAX);

    t_say("-- write, then read, then lseek 0 and read");
    fd = open(SYS_MSGMNB, O_RDWR);
    T_REQUIRE(fd >= 0);
    sys_write_fd(fd, "20000\n", 6);
    rd(fd, "read", 63);
    EXPECT_EQ(lseek(fd, 0, SEEK_SET), 0);
    rd(fd, "read", 63);
    rd(fd, "pread0", 3);
    EXPECT_EQ(lseek(fd, 0, SEEK_SET), 0);
    rd(fd, "readv", 63);
    rd(fd, "preadv0", 63);
    EXPECT_EQ(lseek(fd, 0, SEEK_SET), 0);
    rd(fd, "preadv2cur", 2);
    rd(fd, "preadv2cur", 63);
    rd(fd, "read", 0);
    EXPECT_EQ(close(fd), 0);
    sys_read(SYS_MSGMNB);

    t_say("-- O_WRONLY is not readable");
    fd = open(SYS_MSGMNI, O_WRONLY);
    T_REQUIRE(fd >= 0);
    rd(fd, "read", 63);
    rd(fd, "pread0", 63);
    rd(fd, "readv", 63);
    EXPECT_EQ(close(fd), 0);

    t_say("-- streams opened r+ and w+");
    char line[64];
    FILE *f = fopen(SYS_MSG_DEFAULT, "r+");
    T_REQUIRE(f != NULL);
    show_line("r+ reads", f, line, sizeof line);
    EXPECT_EQ(fseek(f, 0, SEEK_SET), 0);
    fprintf(f, "%d\n", 7);
    EXPECT_EQ(fseek(f, 0, SEEK_SET), 0);
    show_line("then reads", f, line, sizeof line);
    EXPECT_EQ(fclose(f), 0);
    sys_read(SYS_MSG_DEFAULT);
    f = fopen(SYS_MSG_DEFAULT, "w+");
    T_REQUIRE(f != NULL);
    show_line("w+ reads", f, line, sizeof line);
    EXPECT_EQ(fclose(f), 0);
    sys_read(SYS_MSG_DEFAULT);
    return t_finish();
}
