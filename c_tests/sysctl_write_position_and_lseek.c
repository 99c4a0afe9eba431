/* Writes on one open description (sysctl_writes_strict, the default): the first, at position
 * 0, sets the value and moves the position by the count; a later write at a position other
 * than 0 changes nothing but reports every byte written; lseek back to 0 makes the next write
 * count again. A rejected write (EINVAL) does not move the position. A stream (fopen "w",
 * fprintf, fclose) sets the value when stdio flushes it, and a bad value makes fclose fail
 * with EINVAL. */
#include "harness.h"
#include "mqt_sysctl.h"

int main(void)
{
    sys_private_ipc();
    int fd = open(SYS_MSGMAX, O_WRONLY);
    T_REQUIRE(fd >= 0);
    sys_write_fd(fd, "5000\n", 5);
    printf("  position %ld\n", (long)lseek(fd, 0, SEEK_CUR));
    sys_read(SYS_MSGMAX);
    sys_write_fd(fd, "6000\n", 5);
    printf("  position %ld\n", (long)lseek(fd, 0, SEEK_CUR));
    sys_read(SYS_MSGMAX);
    EXPECT_EQ(lseek(fd, 0, SEEK_SET), 0);
    sys_write_fd(fd, "bad", 3);
    printf("  position %ld\n", (long)lseek(fd, 0, SEEK_CUR));
    sys_write_fd(fd, "7000", 4);
    printf("  position %ld\n", (long)lseek(fd, 0, SEEK_CUR));
    sys_read(SYS_MSGMAX);
    EXPECT_EQ(close(fd), 0);

    t_say("-- O_RDWR, O_WRONLY|O_CREAT|O_TRUNC and O_APPEND open it too");
    fd = open(SYS_MSGMNB, O_RDWR);
    T_REQUIRE(fd >= 0);
    sys_write_fd(fd, "20000", 5);
    EXPECT_EQ(close(fd), 0);
    sys_read(SYS_MSGMNB);
    fd = open(SYS_MSGMNB, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    T_REQUIRE(fd >= 0);
    sys_write_fd(fd, "21000\n", 6);
    EXPECT_EQ(close(fd), 0);
    sys_read(SYS_MSGMNB);
    fd = open(SYS_MSGMNB, O_WRONLY | O_APPEND);
    T_REQUIRE(fd >= 0);
    sys_write_fd(fd, "22000\n", 6);
    EXPECT_EQ(close(fd), 0);
    sys_read(SYS_MSGMNB);

    t_say("-- streams");
    FILE *f = fopen(SYS_MSGMNI, "w");
    T_REQUIRE(f != NULL);
    fprintf(f, "%d\n", 77);
    EXPECT_EQ(fclose(f), 0);
    sys_read(SYS_MSGMNI);
    f = fopen(SYS_MSGMNI, "w");
    T_REQUIRE(f != NULL);
    fprintf(f, "%d\n", 40000);
    EXPECT_ERR(fclose(f), EINVAL);
    sys_read(SYS_MSGMNI);
    return t_finish();
}
