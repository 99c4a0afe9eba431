/* Each queue sysctl takes the values of its kernel range and refuses the rest with EINVAL,
 * leaving the value in force unchanged: msg_max and msg_default 1..65536 (HARD_MSGMAX),
 * msgsize_max and msgsize_default 128..16 MiB, queues_max any int (proc_dointvec, so -1 reads
 * back as -1), msgmax and msgmnb 0..INT_MAX, msgmni 0..32768 (IPCMNI), msg_next_id 0..INT_MAX.
 * A number above INT_MAX, or below INT_MIN, is EINVAL even where any int is allowed. After each
 * write the file reads back the value in force, as the kernel prints it ("%d\n"). */
#include "harness.h"
#include "mqt_sysctl.h"

struct range_case {
    const char *path;
    const char *values[8];
};

int main(void)
{
    sys_private_ipc();
    static const struct range_case cases[] = {
        { SYS_MSG_MAX, { "0", "1", "65536", "65537", "-1", "20", NULL } },
        { SYS_MSG_DEFAULT, { "0", "1", "65536", "65537", "7", NULL } },
        { SYS_MSGSIZE_MAX, { "127", "128", "16777216", "16777217", "4096", NULL } },
        { SYS_MSGSIZE_DEFAULT, { "127", "128", "16777216", "16777217", "1024", NULL } },
        { SYS_QUEUES_MAX, { "-1", "0", "2147483647", "2147483648", "-2147483648", "-2147483649", "300", NULL } },
        { SYS_MSGMAX, { "-1", "0", "2147483647", "2147483648", "4000", NULL } },
        { SYS_MSGMNB, { "-1", "0", "2147483647", "2147483648", "9000", NULL } },
        { SYS_MSGMNI, { "-1", "0", "32768", "32769", "100", NULL } },
        { SYS_MSG_NEXT_ID, { "-1", "2147483648", "0", "2147483647", NULL } },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        for (int k = 0; cases[i].values[k]; k++) {
            sys_write(cases[i].path, cases[i].values[k]);
            sys_read(cases[i].path);
        }
    }
    return t_finish();
}
