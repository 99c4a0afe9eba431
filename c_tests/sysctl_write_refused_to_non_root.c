/* Who may write the queue sysctls: the files are root's, 0644, and the kernel checks the
 * caller's uid and no capability. Another user ("nobody") gets EACCES when opening any of them
 * for writing (O_WRONLY, O_RDWR, fopen "w") while it may still read them; a descriptor root
 * opened is refused (EPERM) at write(2) once its process became nobody. msg_next_id is 0444
 * unless the caller has CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE: root without them gets
 * EACCES. What root wrote (after its first queue) stays in force: msgmni 1 still refuses a second
 * queue. */
#include "harness.h"
#include "mqt_sysctl.h"

static void drop_admin_caps(void)
{
    struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
    struct __user_cap_data_struct d[2];
    T_REQUIRE(syscall(SYS_capget, &h, d) == 0);
    d[CAP_TO_INDEX(CAP_SYS_ADMIN)].effective &= ~CAP_TO_MASK(CAP_SYS_ADMIN);
    d[CAP_TO_INDEX(CAP_CHECKPOINT_RESTORE)].effective &= ~CAP_TO_MASK(CAP_CHECKPOINT_RESTORE);
    T_REQUIRE(syscall(SYS_capset, &h, d) == 0);
}

int main(void)
{
    sys_private_ipc();
    int id = EXPECT_OK(msgget(IPC_PRIVATE, IPC_CREAT | 0600));
    sys_write(SYS_MSGMNI, "1\n");

    t_child nobody = t_spawn();
    if (nobody.pid == 0) {
        t_become(T_NOBODY);
        for (size_t i = 0; i < sizeof sys_all / sizeof sys_all[0]; i++) {
            printf("%s as nobody:\n", sys_short(sys_all[i]));
            errno = 0;
            int fd = open(sys_all[i], O_WRONLY);
            printf("  O_WRONLY -> %s\n", fd < 0 ? t_errno_name(errno) : "opened");
            errno = 0;
            fd = open(sys_all[i], O_RDWR);
            printf("  O_RDWR -> %s\n", fd < 0 ? t_errno_name(errno) : "opened");
            errno = 0;
            FILE *f = fopen(sys_all[i], "w");
            printf("  fopen w -> %s\n", f ? "opened" : t_errno_name(errno));
            fd = open(sys_all[i], O_RDONLY);
            printf("  O_RDONLY -> %s\n", fd < 0 ? t_errno_name(errno) : "opened");
            if (fd >= 0)
                close(fd);
        }
        exit(t_child_status());
    }
    t_join(&nobody, 0);

    t_child dropped = t_spawn();
    if (dropped.pid == 0) {
        int fd = open(SYS_MSGMNI, O_WRONLY);
        T_REQUIRE(fd >= 0);
        t_become(T_NOBODY);
        t_say("a descriptor root opened, written as nobody:");
        sys_write_fd(fd, "50\n", 3);
        close(fd);
        exit(t_child_status());
    }
    t_join(&dropped, 0);

    t_child no_admin = t_spawn();
    if (no_admin.pid == 0) {
        drop_admin_caps();
        errno = 0;
        int fd = open(SYS_MSG_NEXT_ID, O_WRONLY);
        t_say("msg_next_id without CAP_SYS_ADMIN and CAP_CHECKPOINT_RESTORE: %s", fd < 0 ? t_errno_name(errno) : "opened");
        sys_write(SYS_MSGMNI, "1\n");
        exit(t_child_status());
    }
    t_join(&no_admin, 0);

    sys_read(SYS_MSGMNI);
    EXPECT_ERR(msgget(IPC_PRIVATE, IPC_CREAT | 0600), ENOSPC);
    EXPECT_EQ(msgctl(id, IPC_RMID, NULL), 0);
    return t_finish();
}
