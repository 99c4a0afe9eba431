/* A shell under the same library sets a sysctl with `echo N > file` (its builtin echo writes
 * through libc's stdio, to the descriptor it redirected) and with `printf N > file`, and the
 * value is in force for the shell's next command and for the program that ran the shell; a
 * `tee` in a pipeline sets one too. */
#include "harness.h"
#include "mqt_sysctl.h"

static void shell(const char *command)
{
    t_say("$ %s", command);
    fflush(stdout);
    int status = system(command);
    T_REQUIRE(status != -1);
    t_say("  exit %d", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

int main(void)
{
    sys_private_ipc();
    shell("echo 7 > " SYS_MSG_MAX " && cat " SYS_MSG_MAX);
    sys_read(SYS_MSG_MAX);
    shell("bash -c 'echo 321 > " SYS_MSGSIZE_DEFAULT "; printf 5 > " SYS_MSG_DEFAULT "; cat " SYS_MSGSIZE_DEFAULT " " SYS_MSG_DEFAULT "'");
    sys_read(SYS_MSGSIZE_DEFAULT);
    sys_read(SYS_MSG_DEFAULT);
    shell("echo 4444 | tee " SYS_MSGMAX " >/dev/null");
    sys_read(SYS_MSGMAX);
    return t_finish();
}
