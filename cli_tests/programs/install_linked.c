/* install_linked: built with only `pkg-config --cflags --libs mqshim` (no -I or -L of the build
 * tree, no LD_LIBRARY_PATH when run), as an installed user's program is. Prints the library that
 * the dynamic loader found (dladdr of mqshim_version), then mqshim_version() and mqshim_backend(). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <mqshim.h>
#include <stdio.h>

int main(void) {
    Dl_info info;
    if (dladdr((void *)mqshim_version, &info) == 0 || info.dli_fname == NULL) {
        fprintf(stderr, "dladdr cannot place mqshim_version\n");
        return 3;
    }
    printf("library: %s\n", info.dli_fname);
    printf("version: %s\n", mqshim_version());
    printf("backend: %s\n", mqshim_backend());
    return 0;
}
