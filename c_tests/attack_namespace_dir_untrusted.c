/* mqt: shim-only */
/* The emulation refuses a namespace directory another user controls (the kernel has no
 * namespace directory, so this test checks its own expectations, with MQSHIM_BACKEND=emulate
 * forced in every shim configuration). Root's process, run with MQSHIM_DIR set to
 *   (a) a directory owned by nobody (1777, as nobody would pre-create /dev/shm/mqshim),
 *   (b) a directory of root's that is 0777 without the sticky bit (anyone may swap its entries),
 * must refuse: mq_open(O_CREAT) and msgget(IPC_CREAT) fail with EACCES, stderr names the
 * directory, and the directory keeps its mode and owner and stays empty. */
#include "harness.h"
#include "mqt_attack.h"

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "victim") == 0)
        return attack_dir_victim();
    char base[256], a[300], b[300];
    attack_dir_base(base, sizeof base);
    snprintf(a, sizeof a, "%s/a", base);
    snprintf(b, sizeof b, "%s/b", base);

    t_say("-- (a) MQSHIM_DIR owned by nobody (1777)");
    attack_dir_make(a, 01777, ATTACK_NOBODY);
    attack_dir_run_victim(a);
    attack_dir_check_untouched("the directory", a, S_IFDIR | 01777, ATTACK_NOBODY);

    t_say("-- (b) MQSHIM_DIR of root's, 0777 without sticky");
    attack_dir_make(b, 0777, 0);
    attack_dir_run_victim(b);
    attack_dir_check_untouched("the directory", b, S_IFDIR | 0777, 0);

    attack_remove_tree(base);
    return t_finish();
}
