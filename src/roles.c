#include "src/roles.h"

#include <string.h>

#include "nodes/algo.h"

int roles_key(const struct shm_run *r)
{
    static const struct {
        const char *algorithm;
        int role;
    } key[] = {
        {"raft", ROLE_LEADER},
        {"centralized", ROLE_COORDINATOR},
        {"token_ring", ROLE_TOKEN_HOLDER},
        {"two_level_ring", ROLE_TOKEN_HOLDER},
    };
    for (size_t i = 0; i < sizeof key / sizeof key[0]; i++)
        if (strncmp(r->algorithm, key[i].algorithm, sizeof r->algorithm) == 0)
            return key[i].role;
    return ROLE_NONE;
}

int roles_holder(const struct shm_run *r, int role)
{
    return role == ROLE_LEADER ? shm_find_leader(r, role) : shm_find_role(r, role);
}
