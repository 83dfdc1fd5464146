/* The node runtime's persistent state: RUNDIR/n<K>.persist, replaced
 * atomically (write a temp file, fsync it when [raft] fsync asks, rename),
 * so a crash at any moment leaves either the old state or the new, never a
 * torn one. The core asks with ACT_PERSIST and gets it back at its next
 * start as env.restored. */
#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include "ipc/util.h"
#include "nodes/runtime_int.h"

static void persist_path(const struct node *nd, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/n%d.persist", nd->run->rundir, nd->args.id);
}

int rt_persist(struct node *nd, const void *data, uint32_t len)
{
    char path[1200], err[DL_ERRLEN];
    persist_path(nd, path, sizeof path);
    int rc = dl_write_file_sync(path, data, len, nd->run->params.fsync != 0, err);
    if (rc < 0)
        fprintf(stderr, "node %d: cannot persist its state: %s: stopping\n", nd->args.id, err);
    return rc;
}

int rt_persist_load(struct node *nd, char *err)
{
    char ppath[1200];
    persist_path(nd, ppath, sizeof ppath);
    if (access(ppath, F_OK) == 0 && dl_read_file(ppath, &nd->restored, &nd->restored_len, err) < 0)
        return -EIO;
    return 0;
}
