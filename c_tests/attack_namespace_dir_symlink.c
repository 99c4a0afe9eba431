/* mqt: shim-only */
/* Before StrictModes-like checks (in both shim configurations, which both force the emulation): the
 * planted link is refused, but with ENOTDIR instead of EACCES (the target is unchanged and stderr
 * names the path). */
/* The emulation refuses a namespace path that is a symlink another user planted (the kernel has
 * no namespace directory, so this test checks its own expectations, with MQSHIM_BACKEND=emulate
 * forced in every shim configuration): nobody plants, in the world-writable sticky /dev/shm, a
 * symlink to a directory of root's (0755); root's process run with MQSHIM_DIR set to the link
 * must refuse — mq_open(O_CREAT) and msgget(IPC_CREAT) fail with EACCES — name the path on
 * stderr, and leave the target's mode and owner as they were and the target empty. */
#include "harness.h"
#include "mqt_attack.h"

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "victim") == 0)
        return attack_dir_victim();
    char base[256], link[300], target[300];
    attack_dir_base(base, sizeof base);
    snprintf(link, sizeof link, "%s-link", base);
    snprintf(target, sizeof target, "%s/target", base);

    t_say("-- MQSHIM_DIR a symlink nobody planted in /dev/shm, to a directory of root's");
    attack_dir_make(target, 0755, 0);
    t_child c = t_spawn();
    if (c.pid == 0) {
        attack_become_nobody();
        T_REQUIRE(symlink(target, link) == 0);
        exit(t_child_status());
    }
    t_join(&c, 0);
    attack_dir_run_victim(link);
    attack_dir_check_untouched("the link's target", target, S_IFDIR | 0755, 0);

    unlink(link);
    attack_remove_tree(base);
    return t_finish();
}
