/*
 * group.h: the group contract, what every member of a group and every tool
 * that inspects one (meterd, meterctl, meterproxy) must agree on, written
 * once so they cannot drift apart:
 *
 *   - secrets: one reader for every secret file (ZooKeeper credentials,
 *     revision keys, later the plugins' named secrets);
 *   - signed revisions and slot tables: the signature strings stored with
 *     them, made and checked by the same code (sign.c), the trusted keys and
 *     the roles' ACL ids (roles.c);
 *   - the slot-table clock: the table in force at an instant, the tables
 *     pending until theirs, and the owner of a target at time t;
 *   - a revision's partitioned targets and the slot loads made from them.
 *
 * Everything here works on plain data (bytes, pipelines, partition tables):
 * no threads, no locks, no I/O except group_secret_read(), no ZooKeeper
 * calls. A caller that shares a clock between threads locks around it.
 * The wire formats (signature strings, slot table bytes and their signature
 * envelope) are those of docs/COORDINATION.md, docs/PARTITION.md and
 * docs/SECURITY.md.
 */
#ifndef METERD_GROUP_H
#define METERD_GROUP_H

#include "partition/partition.h"
#include "pipeline/pipeline.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- secrets --------------------------------------------------------------- */

/* Largest secret file accepted; a bigger one is an error, never truncated. */
#define GROUP_SECRET_MAX (64u * 1024u)

/*
 * Reads a secret file: it must be a regular file (symlinks, FIFOs and
 * devices are refused without blocking), of mode 0600 or stricter, at most
 * GROUP_SECRET_MAX bytes, and not empty once trailing whitespace (\n \r
 * space \t) is stripped. Returns 0 with *out (malloc'd, NUL-terminated after
 * *len bytes; the bytes may contain NULs) or -1 with a sentence naming the
 * path in err. Free with group_secret_free(), which wipes it.
 */
int group_secret_read(const char *path, unsigned char **out, size_t *len, char *err, size_t errlen);
void group_secret_free(unsigned char *secret, size_t len);

/* ---- signed revisions -------------------------------------------------------- */

/* Room for any signature string this module makes ("hmac-sha256:" + 64 hex,
 * later "ed25519:..."); the coordinator stores up to 511 bytes. */
#define GROUP_SIGNATURE_MAX         256
#define GROUP_SIGNATURE_HMAC_PREFIX "hmac-sha256:"

/* The legacy scheme (a shared key every agent held, so any agent could sign),
 * still read during an upgrade (docs/SECURITY.md). Signs a revision body with
 * HMAC-SHA256 under key[0..keylen): out gets
 * "hmac-sha256:<64 lowercase hex>". 0, or -1 (OpenSSL failed). */
int group_revision_sign(const void *key, size_t keylen, const void *body, size_t len,
                        char out[GROUP_SIGNATURE_MAX]);

/* Checks a revision's stored signature string against its body. 0 when it
 * verifies; -1 with why ("unsigned revision refused ...", "signature does not
 * verify ...", or an unsupported scheme). Constant-time comparison. */
int group_revision_verify(const void *key, size_t keylen, const char *signature, const void *body,
                          size_t len, char *why, size_t whylen);

/* ---- Ed25519 revision signatures (group/sign.c) ------------------------------- */

/*
 * Operators sign with a private key; agents hold only public keys (a
 * trusted-keys file), so a compromised agent cannot sign. The envelope is
 * "ed25519:1:<key id>:<128 hex>" (1: its version); the signature covers the
 * group, the revision number, its parent (number - 1) and sha256(body), so a
 * body is valid only as the revision it was signed for. docs/SECURITY.md.
 */
#define GROUP_SIGNATURE_ED25519_PREFIX "ed25519:"
#define GROUP_SIGNATURE_VERSION        1
#define GROUP_ED25519_PUBLIC_LEN       32
#define GROUP_KEY_ID_HEX               16 /* first 8 bytes of sha256(public key), hex */
#define GROUP_TRUST_LINE_MAX           256

typedef struct group_signer group_signer; /* an operator's private key */
typedef struct group_trust group_trust;   /* the public keys an agent trusts */

/* The key id of a raw public key. */
void group_key_id(const unsigned char pub[GROUP_ED25519_PUBLIC_LEN], char id[GROUP_KEY_ID_HEX + 1]);

/* A PEM (PKCS#8) Ed25519 private key, as read by group_secret_read().
 * label names it in err. 0, or -1. */
int group_signer_load(const void *pem, size_t len, const char *label, group_signer **out, char *err,
                      size_t errlen);
void group_signer_free(group_signer *s);
const char *group_signer_key_id(const group_signer *s);
/* The trusted-keys line of its public half: "ed25519 <64 hex> comment". */
int group_signer_public(const group_signer *s, char line[GROUP_TRUST_LINE_MAX],
                        const char *comment);
/* A new key: *pem (malloc'd PEM, wipe and free it) and its public line. */
int group_key_generate(char **pem, size_t *pem_len, char line[GROUP_TRUST_LINE_MAX],
                       const char *comment, char *err, size_t errlen);

/* Signs body as revision `number` of `group`. 0, or -1 (OpenSSL failed). */
int group_revision_sign_ed25519(const group_signer *s, const char *group, int64_t number,
                                const void *body, size_t len, char out[GROUP_SIGNATURE_MAX]);

/*
 * Trusted keys: one "ed25519 <64 hex> [comment]" per line, '#' comments and
 * blank lines ignored; at least one key. Revoking a key is deleting its
 * line. group_trust_read() reads a file that only its owner may change
 * (mode without 022: refused otherwise), with group_secret_read()'s other
 * checks. 0, or -1 with file:line:column in err.
 */
int group_trust_parse(const char *text, size_t len, const char *label, group_trust **out, char *err,
                      size_t errlen);
int group_trust_read(const char *path, group_trust **out, char *err, size_t errlen);
size_t group_trust_count(const group_trust *t);
void group_trust_free(group_trust *t);

/* Checks that signature is a trusted key's for body as revision `number` of
 * `group`. 0, or -1 with why (unsigned, other scheme or version, unknown or
 * revoked key id, does not verify). */
int group_revision_check(const group_trust *t, const char *group, int64_t number,
                         const char *signature, const void *body, size_t len, char *why,
                         size_t whylen);

/*
 * Slot tables signed by the leader with the members' key (a table key every
 * member holds, never sent anywhere), so that nobody without it, on the
 * path to ZooKeeper or with a stolen ZooKeeper credential, can move targets.
 * The stored bytes are "meterd-table-sig <envelope>\n" + the table; the
 * envelope signs the group, the epoch the write gives (the assignment
 * node's version) and the table, so an old table cannot be written again.
 */
/* Splits stored bytes: *sig NULL when there is no envelope (not NUL-ended). */
void group_table_split(const void *bytes, size_t len, const char **sig, size_t *siglen,
                       const void **table, size_t *tlen);
/* Signed bytes for table as `epoch` of group (*out malloc'd). 0, or -1. */
int group_table_sign(const group_signer *s, const char *group, int64_t epoch, const void *table,
                     size_t len, uint8_t **out, size_t *outlen);
/* Checks stored bytes with the table key. 0, or -1 with why. */
int group_table_check(const group_signer *key, const char *group, int64_t epoch, const void *bytes,
                      size_t len, char *why, size_t whylen);

/* ---- roles (group/roles.c) ------------------------------------------------------ */

/* The ZooKeeper digest ids of the three roles, "user:base64(sha1)", as
 * zk-acl.txt holds them ("operator digest:<id>" per line, one per role). */
#define GROUP_ROLE_ID_MAX 200
typedef struct group_roles {
    char operator_id[GROUP_ROLE_ID_MAX], member_id[GROUP_ROLE_ID_MAX], reader_id[GROUP_ROLE_ID_MAX];
} group_roles;
int group_roles_parse(const char *text, size_t len, const char *label, group_roles *out, char *err,
                      size_t errlen);
/* Reads it with group_secret_read() (mode 0600). 0, or -1 with file:line. */
int group_roles_read(const char *path, group_roles *out, char *err, size_t errlen);

/* ---- a revision's targets ---------------------------------------------------- */

/*
 * The group's partitioned targets under a revision: the distinct
 * `resources:` of every source, sorted bytewise. This is the one definition
 * meterd (ownership counts, the leader's slot loads) and meterctl
 * (assignment, whohas) use.
 *
 * Local targets, those a member discovers on its own host (its PSI, its
 * cgroups, its BMC), are never partitioned: every member polls its own, so
 * they are not in this set. A per-host discovery that fed a partitioned
 * source would have to give the same result on every member, or publish its
 * result to the group, or members would disagree on the set; none exists
 * yet. A discovery whose result is a function of the revision alone (such as
 * a targets file carried in it) may add to this set when it comes.
 */
typedef struct group_targets {
    const char **ids; /* point into the pipeline: valid while it lives */
    size_t n;
} group_targets;

/* 0, or -1 on ENOMEM. p may be NULL (no revision: no targets). */
int group_revision_targets(const pipeline *p, group_targets *out);
void group_targets_free(group_targets *t);
/* load[PARTITION_SLOTS]: how many of the targets hash to each slot. */
void group_slot_loads(const group_targets *t, uint32_t *load);
/* Whether id is one of the targets (binary search). */
bool group_targets_has(const group_targets *t, const char *id);

/* ---- the slot-table clock ------------------------------------------------------ */

/*
 * A group's slot tables in time. The leader writes each new table with the
 * instant from which it is in force; members receive it early (a planned
 * handover) and keep it pending until then. A new table supersedes the
 * pending one, whatever the two instants: ZooKeeper stores only the newest
 * table, and a member whose read lags behind two writes (joins 150 ms apart
 * under load) never sees the one between them, so every member must go from
 * the table in force straight to the newest, at its instant. (Keeping both
 * made the members that saw the middle table disagree with those that did
 * not between the two instants: the join-burst duplicates of issue 11.)
 *
 * Which table is in force until then is the leader's to say: a table of
 * serialised version 2 names (and embeds) the one in force when it was
 * planned (group_clock_in_force). Installing it keeps the table in force
 * here when it is that one or a newer one (put in force here before the
 * newest arrived: never go back), and otherwise replaces it with the
 * embedded one, or with none when it is named only. So a member that read
 * only the newest table (it lagged behind two writes, or it lost its
 * session while the leader planned it out and back in) polls under the same
 * table as the others until the new instant, never under one they left. The
 * leader does not supersede a table whose instant is too near for the new
 * one to reach everyone before it (agent/cluster_table.c). A version 1
 * table (written by an older leader) says nothing: the table in force here
 * stays, as before.
 *
 * The clock keeps no history: once a table is in force, the one before it
 * is forgotten, and the table in force also answers for instants before its
 * own (a decision taken late about an earlier instant follows the table now
 * in force). With no table in force, an instant before every pending one is
 * unknown: the table in force then was never seen (ZooKeeper stores one
 * table, the newest).
 */
#define GROUP_CLOCK_MAX_PENDING 4

typedef struct group_clock_table {
    partition_table *t; /* NULL: none */
    int64_t epoch;      /* the assignment node's version it was stored at */
    char digest[65];    /* sha256 (hex) of its stored bytes: what members report */
} group_clock_table;

typedef struct group_clock {
    group_clock_table cur;                              /* in force (t NULL: none yet) */
    group_clock_table pending[GROUP_CLOCK_MAX_PENDING]; /* at most one: a new table supersedes */
    int n_pending;
    int64_t epoch; /* newest installed (0: none) */
} group_clock;

void group_clock_init(group_clock *c);
void group_clock_free(group_clock *c);

/* Decodes a stored table (a signature envelope is skipped: the caller checks
 * it first, group_table_check), settles the table in force from the
 * predecessor it names (above), and makes it the pending one. Returns 1 when
 * it is not newer than the newest installed (ignored), 0 installed, -1
 * malformed (err says why; the clock is unchanged). */
int group_clock_install(group_clock *c, const void *bytes, size_t len, int64_t epoch, char *err,
                        size_t errlen);
/* Puts in force every pending table whose instant is <= now_ms. Returns how
 * many came into force. */
int group_clock_promote(group_clock *c, int64_t now_ms);
/* What a table planned now names as its predecessor: the table in force
 * (promote first), with out->t a copy the caller frees. 0, or -1 when none
 * is in force here (write version 1) or on ENOMEM. */
int group_clock_in_force(const group_clock *c, partition_prev *out);

/* The table in force at t (see above), or NULL when none is known for t. */
const partition_table *group_clock_table_at(const group_clock *c, int64_t t_ms);
/* The newest table known (the last pending, else the one in force), or NULL. */
const group_clock_table *group_clock_newest(const group_clock *c);
/* Whether the clock holds any table at all. */
bool group_clock_has_table(const group_clock *c);
/* The instant of the first pending table, or -1 when none is pending. */
int64_t group_clock_next_ms(const group_clock *c);

typedef enum {
    GROUP_OWNER_MEMBER,   /* owner_id owns it under the table in force at t */
    GROUP_OWNER_NO_TABLE, /* no table at all: every member owns every slot */
    GROUP_OWNER_UNKNOWN,  /* the table in force at t is not known */
} group_owner_kind;

typedef struct group_owner {
    group_owner_kind kind;
    uint32_t slot;
    const char *owner_id; /* MEMBER: points into the clock's table */
    const partition_table *table;
} group_owner;

/* Who owns target_id at t. The one answer meterd and meterctl give. */
void group_clock_owner_at(const group_clock *c, const char *target_id, int64_t t_ms,
                          group_owner *out);

/* What a member gains and loses from table `before` (NULL: no table, every
 * member owned every slot) to `after`, in slots and in targets (slot_load
 * from group_slot_loads; NULL counts slots only). 0, or -1 on ENOMEM. */
typedef struct group_moves {
    uint32_t slots_gained, slots_lost;
    uint64_t targets_gained, targets_lost;
} group_moves;
int group_member_moves(const partition_table *before, const partition_table *after,
                       const char *member_id, const uint32_t *slot_load, group_moves *out);

#endif
