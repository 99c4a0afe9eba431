/* mqt_cleanup FILE — run.sh's safety net, run without the shim after each test run.
 *
 * FILE holds the lines the harness recorded: "mq /name" for every per-run queue name a test
 * used and "msgkey 0xKEY" for every per-run SysV key it created a queue on. Every object
 * that still exists is removed and reported on stdout ("leftover ..."), so a test that does
 * not clean up after itself is noticed. Names and keys are unique to the run, so nothing
 * that another program created is touched. */
#include <errno.h>
#include <mqueue.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: mqt_cleanup FILE\n");
        return 2;
    }
    FILE *f = fopen(argv[1], "r");
    if (!f)
        return 0;
    char line[600];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        if (strncmp(line, "mq ", 3) == 0) {
            if (mq_unlink(line + 3) == 0)
                printf("leftover POSIX queue %s (removed)\n", line + 3);
        } else if (strncmp(line, "msgkey ", 7) == 0) {
            key_t key = (key_t)strtoul(line + 7, NULL, 0);
            int id = msgget(key, 0);
            if (id >= 0 && msgctl(id, IPC_RMID, NULL) == 0)
                printf("leftover SysV queue key %s (removed)\n", line + 7);
        }
    }
    fclose(f);
    return 0;
}
