/* cli.h -- meterctl's subcommand table and what the cluster commands share.
 *
 * meterctl is one program with subcommands (validate, push, rollback,
 * revisions, status, members, assignment, whohas). Like collectd's plugin
 * table, the dispatcher in meterctl.c knows commands only through this table:
 * a new subcommand is a cmd_<name>.c file plus one line in meterctl.c.
 *
 * The cluster commands share one way to find and open ZooKeeper (cluster.c:
 * --zk > METERD_ZK > -c meterd.conf, observers only, --auth-file for writes),
 * one reader of a group's whole state (view.c) and one column printer
 * (table.c), so every command reports the same facts the same way.
 *
 * Exit codes are shared by every subcommand (docs/CLI.md): 0 success,
 * 1 invalid input / rejected / failed, 2 usage, 3 CAS lost, 4 timeout,
 * 5 inconsistent group, 6 cannot reach ZooKeeper.
 */
#ifndef METERD_CLI_H
#define METERD_CLI_H

#include "coordinator/coordinator.h"
#include "group/group.h"
#include "groupview/groupview.h"
#include "partition/partition.h"

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum {
    CLI_OK = 0,
    CLI_FAILED = 1,
    CLI_USAGE = 2,
    CLI_CONFLICT = 3,
    CLI_TIMEOUT = 4,
    CLI_INCONSISTENT = 5,
    CLI_UNREACHABLE = 6,
};

typedef enum { CLI_OUT_TEXT, CLI_OUT_JSON } cli_output;

typedef struct {
    const char *name;
    const char *summary; /* one line for `meterctl --help` */
    /* argv[0] is the subcommand name; returns an exit code */
    int (*run)(int argc, char **argv, FILE *out, FILE *err);
} cli_command;

int cli_cmd_validate(int argc, char **argv, FILE *out, FILE *err);
int cli_cmd_push(int argc, char **argv, FILE *out, FILE *err);
int cli_cmd_rollback(int argc, char **argv, FILE *out, FILE *err);
int cli_cmd_revisions(int argc, char **argv, FILE *out, FILE *err);
int cli_cmd_status(int argc, char **argv, FILE *out, FILE *err);
int cli_cmd_members(int argc, char **argv, FILE *out, FILE *err);
int cli_cmd_assignment(int argc, char **argv, FILE *out, FILE *err);
int cli_cmd_whohas(int argc, char **argv, FILE *out, FILE *err);
int cli_cmd_credentials(int argc, char **argv, FILE *out, FILE *err);
int cli_cmd_repair_acl(int argc, char **argv, FILE *out, FILE *err);

/* credentials_tls.c: init-credentials' pub-sub TLS files, PEM texts (a CA,
 * its key, the members' certificate and key); 0, or -1 with err. */
enum { CLI_TLS_CA_CRT, CLI_TLS_CA_KEY, CLI_TLS_CRT, CLI_TLS_KEY, CLI_TLS_FILES };
int cli_tls_generate(char *pem[CLI_TLS_FILES], char *err, size_t errcap);
void cli_tls_free(char *pem[CLI_TLS_FILES]); /* wipes the keys */

/* Parses "-o text|json" / "--output=json" values; -1 when unknown. */
int cli_parse_output(const char *value, cli_output *out);

/* ---- cluster.c: options, connection, errors, JSON ---------------------- */

#define CLI_CONNECT_TIMEOUT_MS 5000
#define CLI_NO_TABLE_NOTE      GROUPVIEW_NO_TABLE_NOTE

typedef struct cli_cluster {
    const char *cmd; /* "push", for messages */
    FILE *out, *err;
    cli_output fmt;
    const char *zk_flag, *conf, *auth_file, *group;
    const char *acl_file; /* --acl-file: the roles' ids (zk-acl.txt), NULL: none */
    bool repair_acls;     /* repair-acl: set wrong ACLs instead of refusing */
    int connect_timeout_ms;
    bool verbose;   /* keep the ZooKeeper client's own log on stderr */
    int saved_err;  /* while connected and quiet: the real stderr (fd), else -1 */
    FILE *orig_err; /* err as given by the caller */
    char url[1024];
    char url_from[600];  /* "--zk", "METERD_ZK" or the config file's path */
    unsigned char *auth; /* "user:secret" from --auth-file; wiped on close */
    size_t auth_len;
    coord_t *c;
    /* the coordinator's last warning, for the "cannot reach" sentence */
    pthread_mutex_t log_mu;
    char last_log[512];
    /* under log_mu: why the pipeline node is not a revision, as the
     * coordinator last read it (its malformed callback), at node version
     * bad_version ("" none) */
    char bad_reason[400];
    int64_t bad_version;
    /* a command that reads no member node (push): no membership view */
    bool without_members;
} cli_cluster;

void cli_cluster_init(cli_cluster *k, const char *cmd, FILE *out, FILE *err);
/* Consumes a shared option at argv[*i] (advancing *i past its value):
 * 1 consumed, 0 not a shared option, -1 usage error (printed). */
int cli_cluster_option(cli_cluster *k, int argc, char **argv, int *i);
/* Checks --group, resolves the URL, opens an observer and waits until it is
 * ready. CLI_OK, or the exit code after printing why. */
int cli_cluster_connect(cli_cluster *k, bool write);
void cli_cluster_close(cli_cluster *k);
/* Parses the shared options, at most one positional argument (when
 * positional is not NULL) and one extra "--opt VALUE" (when opt is not NULL).
 * CLI_OK, CLI_USAGE (printed), or -1 after printing usage for --help. */
int cli_parse_simple(cli_cluster *k, int argc, char **argv, const char *usage,
                     const char **positional, const char *opt, const char **opt_val);
/* The options every cluster command accepts, for usage texts. */
void cli_cluster_usage(FILE *f);

/* Adds to status_doc's malformed_revision problem the reason the
 * coordinator gave for node version `version` (the one the view read). */
void cli_malformed_reason(cli_cluster *k, int64_t version, json_t *status_doc);

/* Prints "meterctl CMD: message" on err and, with -o json, {"error":..,
 * "exit":code} on out; returns code. */
int cli_fail(cli_cluster *k, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Prints doc (sorted keys, indented) on out and frees it. */
void cli_print_json(cli_cluster *k, json_t *doc);

/* "--name VALUE" or "--name=VALUE" (also short alias when given):
 * 1 matched (*val set), 0 not this option, -1 value missing (printed). */
int cli_opt_value(cli_cluster *k, int argc, char **argv, int *i, const char *lng, const char *shrt,
                  const char **val);
/* Whole-string integer within [min, max]; -1 otherwise. */
int cli_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out);
/* Reads a whole file of at most max bytes; NULL with a sentence in err. */
char *cli_read_file(const char *path, size_t max, size_t *len, char *err, size_t errcap);
void cli_sha256_hex(const void *buf, size_t len, char out[65]);
int64_t cli_now_ms(void);  /* monotonic */
int64_t cli_wall_ms(void); /* ms since the Unix epoch */

/* ---- cmd_push_via.c: push FILE through meterproxy ---------------------- */

typedef struct cli_via {
    const char *url;        /* --via: the proxy, "http://head:9468" */
    const char *token_file; /* --token-file: its bearer token (mode 0600) */
    const char *author;
    int64_t if_revision; /* -1: the proxy's current one */
    int wait_ms;         /* 0: no --wait */
    /* signs body for revision number (push's own signer) */
    int (*sign)(void *arg, int64_t number, const void *body, size_t len,
                char out[GROUP_SIGNATURE_MAX]);
    void *sign_arg;
} cli_via;

/* Validated body through the proxy: sign for its current + 1, PUT with
 * If-Match, report as push does. An exit code (printed). */
int cli_push_via(cli_cluster *k, const cli_via *v, const char *body, size_t len);
/* `rollback N --via`: N's body from the proxy, signed here for its new
 * number, POSTed to .../rollback. An exit code (printed). */
int cli_rollback_via(cli_cluster *k, const cli_via *v, int64_t n);

/* ---- view.c: a group's state, read once -------------------------------- */

/* The facts and their JSON are groupview/'s, shared with meterproxy. */
typedef groupview cli_view;

/* Reads everything; with require_known, a group with no member, revision or
 * table is an error ("unknown group"). CLI_OK or the exit code (printed). */
int cli_view_load(cli_cluster *k, cli_view *v, bool require_known);
void cli_view_free(cli_view *v);

/* ---- zk_sessions.c: the sessions connected now (`cons`) --------------- */

/* The ids of the sessions connected to every server of hosts ("h1:p1,...")
 * now, and when each one's connection was accepted (est_out[i], ms by that
 * server's clock; 0 when not shown); 0, or -1 when some server did not answer
 * `cons` (not whitelisted, unreachable): unknown. Both arrays are malloc'd. */
int cli_zk_sessions(const char *hosts, int timeout_ms, int64_t **sids_out, int64_t **est_out,
                    size_t *n_out);

/* ---- table.c: aligned text columns --------------------------------------- */

typedef struct cli_table {
    size_t ncols, nrows, cap;
    char **cells; /* row-major, row 0 = headers */
} cli_table;

void cli_table_init(cli_table *t, size_t ncols, const char *const *headers);
/* Appends a row of ncols cells (copied; NULL prints as "-"). */
void cli_table_add(cli_table *t, const char *const *cells);
void cli_table_print(const cli_table *t, FILE *f);
void cli_table_free(cli_table *t);

/* ---- wait.c: push --wait ----------------------------------------------- */

/* Waits for revision `number` (sha256 sha), pushed at monotonic t0 (ms), at
 * most timeout_ms, through the members' acks (O(1) reads, whatever the
 * group's size); prints the table (text) or sets doc's "wait" (json).
 * Returns 0 all applied, 1 any rejected, 4 timed out with members pending. */
int cli_wait_run(cli_cluster *k, int64_t number, const char *sha, int64_t t0, int timeout_ms,
                 json_t *doc);

#endif /* METERD_CLI_H */
