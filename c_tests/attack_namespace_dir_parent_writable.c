/* mqt: shim-only */
/* Before StrictModes-like checks (in both shim configurations, which both force the emulation): the
 * namespace is created in the 0777 parent and used — mq_open and msgget succeed, nothing is
 * said on stderr. */
/* The emulation refuses a namespace whose parent directory another user may write without the
 * sticky bit (anyone could rename the namespace away and put their own in its place; the kernel
 * has no namespace directory, so this test checks its own expectations, with
 * MQSHIM_BACKEND=emulate forced in every shim configuration): root's process run with
 * MQSHIM_DIR set to a not yet existing directory inside a directory of root's that is 0777
 * without sticky must refuse — mq_open(O_CREAT) and msgget(IPC_CREAT) fail with EACCES — name
 * the path on stderr, create nothing in the parent and leave its mode and owner as they were. */
#include "harness.h"
#include "mqt_attack.h"

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "victim") == 0)
        return attack_dir_victim();
    char base[256], parent[300], ns[320];
    attack_dir_base(base, sizeof base);
    snprintf(parent, sizeof parent, "%s/parent", base);
    snprintf(ns, sizeof ns, "%s/ns", parent);

    t_say("-- MQSHIM_DIR in a directory of root's that is 0777 without sticky");
    attack_dir_make(parent, 0777, 0);
    attack_dir_run_victim(ns);
    attack_dir_check_untouched("the parent", parent, S_IFDIR | 0777, 0);

    attack_remove_tree(base);
    return t_finish();
}
