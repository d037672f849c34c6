/*
 * partition.h: hash slots and the slot table (Redis Cluster's model).
 *
 * A target's slot is a fixed hash of its stable id modulo PARTITION_SLOTS.
 * The group leader owns a slot table (slot -> member, with an epoch and the
 * time from which it is in force) and plans each new table from the previous
 * one with partition_plan(). Everything here is pure: no I/O, no threads, no
 * global state; the same inputs give the same bytes on every machine.
 *
 * See docs/PARTITION.md for the hash, the planner's algorithm and bound, and
 * the serialised format.
 */
#ifndef METERD_PARTITION_H
#define METERD_PARTITION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PARTITION_SLOTS       16384u /* fixed forever: part of slot_of() */
#define PARTITION_MAX_MEMBERS 65535u /* owners are stored as 16-bit indexes */
#define PARTITION_MAX_ID_LEN  255u   /* bytes, without the NUL */
#define PARTITION_MAX_WEIGHT  65535u
/* Upper bound of an encoded table: fits a ZooKeeper node (1 MiB) with room. */
#define PARTITION_ENCODED_MAX 1000000u
/* Sum of slot loads the planner accepts (keeps its integer arithmetic exact). */
#define PARTITION_MAX_TOTAL_LOAD (UINT64_C(1) << 40)

/* ---- hashing ---------------------------------------------------------- */

/* FNV-1a 64 over the bytes, then the splitmix64 finaliser. Frozen. */
uint64_t partition_hash64(const void *id, size_t len);
/* partition_hash64(id) % PARTITION_SLOTS. Frozen. */
uint32_t partition_slot_of(const void *id, size_t len);

/* ---- the table -------------------------------------------------------- */

/* A member as given to the planner: a stable id (NUL-terminated, 1..255
 * bytes, e.g. "host-a.central") and a weight in 1..PARTITION_MAX_WEIGHT. */
typedef struct partition_member {
    const char *id;
    uint32_t weight;
} partition_member;

/* Members are kept sorted by id (bytewise) so a table has one canonical
 * form; owner[] holds indexes into ids[]/weights[]. */
typedef struct partition_table {
    uint64_t epoch;
    int64_t effective_ms; /* in force from this instant (ms since the epoch) */
    uint32_t n_members;
    char **ids;
    uint32_t *weights;
    uint16_t owner[PARTITION_SLOTS];
} partition_table;

/* Checks a member id (1..PARTITION_MAX_ID_LEN bytes). 0, or -1 with err. */
int partition_id_check(const char *id, char *err, size_t errlen);
/* A table over members (validated, duplicates rejected, sorted by id) whose
 * slots all belong to the first member by id; epoch 0. NULL with err set. */
partition_table *partition_table_new(const partition_member *members, size_t n, char *err,
                                     size_t errlen);
/* The stateless fallback: one member owns every slot (epoch 0, effective 0).
 * NULL when the id is invalid (err says why) or memory runs out. */
partition_table *partition_table_single(const char *member_id, char *err, size_t errlen);
partition_table *partition_table_copy(const partition_table *t);
void partition_table_free(partition_table *t);

/* Index of a member id in t, or -1. */
int32_t partition_member_index(const partition_table *t, const char *member_id);
/* Member index owning a slot (slot < PARTITION_SLOTS). */
uint32_t partition_owner(const partition_table *t, uint32_t slot);
/* Id of the member owning a target. */
const char *partition_owner_id(const partition_table *t, const void *target_id, size_t len);
/* Per-member sums of slot loads; out has t->n_members entries. */
void partition_member_loads(const partition_table *t, const uint32_t *slot_load, uint64_t *out);

/* ---- planning ---------------------------------------------------------- */

typedef struct partition_options {
    /* Balance bound: every member's load within
     * ideal * (1 +- tolerance_ppm / 1e6), or within slack targets of its
     * ideal when that is wider (slot granularity; see docs/PARTITION.md). */
    uint32_t tolerance_ppm; /* default 10000 (1 %) */
    int64_t slack;          /* targets; < 0: one mean slot load, ceil(total / slots) */
    uint64_t epoch;         /* 0: prev ? prev->epoch + 1 : 1 */
    int64_t effective_ms;
} partition_options;

/* Defaults as documented above. */
void partition_options_init(partition_options *opt);

typedef struct partition_plan_stats {
    uint32_t slots_moved;  /* slots whose owner id changed (vs prev; 0 without) */
    uint64_t load_moved;   /* sum of their loads */
    uint32_t slots_orphan; /* of those, slots of departed members */
    uint64_t load_orphan;
    uint32_t rebalance_moves; /* moves made for balance alone */
    bool bound_met;           /* every member within its bound */
} partition_plan_stats;

/* Plans the next table from prev (NULL: none yet) for members[0..n) and the
 * load per slot (slot_load[PARTITION_SLOTS], NULL: every slot weighs 1).
 * Member order does not matter. Returns 0 and *next (caller frees), or -1
 * with err set (no members, bad or duplicate id, bad weight, load too big,
 * out of memory). stats may be NULL. */
int partition_plan(const partition_table *prev, const partition_member *members, size_t n,
                   const uint32_t *slot_load, const partition_options *opt, partition_table **next,
                   partition_plan_stats *stats, char *err, size_t errlen);

/* ---- diff --------------------------------------------------------------- */

typedef struct partition_diff_member {
    const char *id; /* points into a or b */
    uint32_t slots_gained, slots_lost;
    uint64_t load_gained, load_lost;
} partition_diff_member;

typedef struct partition_move {
    uint32_t slot;
    int32_t from, to; /* index into members[], -1 when a is NULL */
} partition_move;

typedef struct partition_diff {
    size_t n_members; /* union of both tables' members, sorted by id */
    partition_diff_member *members;
    size_t n_moves; /* slots whose owner changed, ascending slot order */
    partition_move *moves;
    uint64_t load_moved; /* targets that change owner */
} partition_diff;

/* Diff from a (NULL: no table) to b; slot_load may be NULL (each slot 1).
 * The diff points into a and b: free it before them. 0, or -1 on ENOMEM. */
int partition_diff_tables(const partition_table *a, const partition_table *b,
                          const uint32_t *slot_load, partition_diff **out);
void partition_diff_free(partition_diff *d);

/* ---- serialised form ------------------------------------------------------ */

/* Versioned bytes with a CRC32C, a few KB for typical tables
 * (docs/PARTITION.md). Caller frees *buf. 0, or -1 with err set. */
int partition_table_encode(const partition_table *t, uint8_t **buf, size_t *len, char *err,
                           size_t errlen);
/* Rejects anything malformed with what is wrong and at which byte offset.
 * Reads both versions; a version 2 table's predecessor is dropped. */
int partition_table_decode(const uint8_t *buf, size_t len, partition_table **out, char *err,
                           size_t errlen);

/*
 * Version 2: a table that also names the table in force when it was
 * planned (its predecessor), and embeds it unless the two would exceed
 * PARTITION_ENCODED_MAX. A group stores only its newest table; a member
 * that reads just that one (it lagged behind two writes, or lost its
 * session meanwhile) learns from it what holds until its instant.
 */
typedef struct partition_prev {
    uint64_t epoch;     /* 1 .. the table's epoch - 1; 0: none said (version 1) */
    uint8_t digest[32]; /* how the writer names it (meterd: sha256 of its stored bytes) */
    partition_table *t; /* the table itself (epoch equal); NULL: named only */
} partition_prev;

/* prev NULL: version 1, as partition_table_encode(). */
int partition_table_encode_prev(const partition_table *t, const partition_prev *prev, uint8_t **buf,
                                size_t *len, char *err, size_t errlen);
/* Either version; *prev zeroed for version 1. On success the caller frees
 * prev->t (partition_table_free) as well as *out. */
int partition_table_decode_prev(const uint8_t *buf, size_t len, partition_table **out,
                                partition_prev *prev, char *err, size_t errlen);

#endif
