/* One write(2) is parsed as proc_dointvec_minmax parses it: white space around the number is
 * skipped ("  5\n"), C bases are taken ("0x10" = 16, "010" = 8), a sign only as a leading '-',
 * and anything else — letters, "+5", a NUL after the number, nothing but white space — is
 * EINVAL with the value unchanged. Only the first number counts: "5 6" sets 5 and write returns
 * 2, the bytes up to the second number. A write of 0 bytes returns 0 and changes nothing. The
 * count returned is what the kernel says was taken. */
#include "harness.h"
#include "mqt_sysctl.h"

int main(void)
{
    sys_private_ipc();
    static const char *const texts[] = {
        "5\n", "  6\n", "\t7 \n\n", "0x10", "010\n", "abc", "8x", "+9", "   \n", "5 6", "12 \n 13",
        "- 3", "-", "0x", "99999999999999999999", "11\r\n",
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        sys_write(SYS_MSG_MAX, texts[i]);
        sys_read(SYS_MSG_MAX);
    }
    t_say("-- a NUL after the number, and a zero-length write");
    sys_write_n(SYS_MSG_MAX, "4\0", 2);
    sys_read(SYS_MSG_MAX);
    sys_write_n(SYS_MSG_MAX, "", 0);
    sys_read(SYS_MSG_MAX);
    return t_finish();
}
