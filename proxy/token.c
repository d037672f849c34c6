/*
 * token.c: the bearer token writes must carry.
 *
 * Read by group_secret_read() (mode 0600, regular file, no symlink), like
 * every secret of meterd. An operator rotates it by replacing the file
 * (write a new one, rename over): each check stats the path and reads it
 * again when the inode, size or modification time differ from the copy in
 * hand, so the old token stops working at once, with no restart and no
 * signal. A file that became unreadable refuses every write rather than
 * keeping a token its owner tried to remove.
 */
#include "proxy/proxy.h"
#include "group/group.h"

#include <openssl/crypto.h>
#include <string.h>

void proxy_token_init(proxy_token *t, const char *path)
{
    memset(t, 0, sizeof *t);
    pthread_mutex_init(&t->mu, NULL);
    snprintf(t->path, sizeof t->path, "%s", path ? path : "");
}

void proxy_token_free(proxy_token *t)
{
    group_secret_free(t->tok, t->len);
    t->tok = NULL;
    pthread_mutex_destroy(&t->mu);
}

static bool same_file(const struct stat *a, const struct stat *b)
{
    return a->st_ino == b->st_ino && a->st_dev == b->st_dev && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* Under t->mu: the token in hand is the file's current one, or none. */
static void refresh(proxy_token *t)
{
    struct stat st;
    if (lstat(t->path, &st) != 0) {
        group_secret_free(t->tok, t->len);
        t->tok = NULL;
        t->len = 0;
        snprintf(t->error, sizeof t->error, "token_file %s: cannot be read", t->path);
        return;
    }
    if (t->tok && same_file(&st, &t->seen)) return;
    group_secret_free(t->tok, t->len);
    t->tok = NULL;
    t->len = 0;
    char err[600];
    if (group_secret_read(t->path, &t->tok, &t->len, err, sizeof err) != 0) {
        snprintf(t->error, sizeof t->error, "%s", err);
        return;
    }
    t->seen = st;
    t->error[0] = 0;
}

int proxy_token_check(proxy_token *t, const char *authorization)
{
    if (!t->path[0]) return -1;
    pthread_mutex_lock(&t->mu);
    refresh(t);
    int rc = -1;
    if (t->tok) {
        rc = 0;
        if (authorization && strncmp(authorization, "Bearer ", 7) == 0) {
            const char *given = authorization + 7;
            rc = strlen(given) == t->len && CRYPTO_memcmp(given, t->tok, t->len) == 0;
        }
    }
    pthread_mutex_unlock(&t->mu);
    return rc;
}
