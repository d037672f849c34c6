/* cmd_push.c -- `meterctl push FILE` and `meterctl rollback N`.
 *
 * push: validate locally with the agents' own parser (a file the agents would
 * refuse is never written: exit 1, file:line:column on stderr), then one CAS
 * write from the revision the operator saw (--if-revision N) or the one read
 * just before, signed for the number it will get (an Ed25519 key: the
 * signature binds group, number and body, docs/SECURITY.md; a legacy HMAC key
 * signs the body alone). A lost CAS names the winner (number, author, time) and exits 3:
 * the operator decides, meterctl never retries over someone else's push.
 *
 * rollback N: revision N's body pushed again as a new revision (history only
 * grows, so "what ran when" stays answerable). An Ed25519 signature is valid
 * for its own number only, so a rollback signs again (--sign-key); a legacy
 * HMAC signature is kept unless --sign-key signs again.
 *
 * --wait hands over to wait.c, which follows the members' acks of the new
 * revision; the connection reads no member node (docs/CLUSTER.md).
 */
#include "cli/cli.h"
#include "expo/expo.h"
#include "pipeline/pipeline.h"
#include "registry/registry.h"

#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PUSH_TIMEOUT_DEFAULT_MS 30000

typedef struct push_args {
    cli_cluster k;
    const char *arg;     /* FILE (push) or N (rollback) */
    int64_t if_revision; /* -1: read the current one */
    const char *sign_key;
    group_signer *signer; /* --sign-key held an Ed25519 key */
    unsigned char *hmac;  /* --sign-key held a legacy HMAC key */
    size_t hmac_len;
    const char *author;
    bool wait;
    bool force;             /* write over a malformed pipeline node */
    const char *via;        /* --via URL: through meterproxy */
    const char *token_file; /* --token-file: the proxy's bearer token */
    bool insecure;          /* --insecure: writing without credentials or a key is meant */
    int timeout_ms;
} push_args;

static void push_usage(FILE *f, bool rollback)
{
    if (rollback)
        fprintf(f, "usage: meterctl rollback N --group G [--wait [--timeout S]] [options]\n"
                   "  Pushes revision N's body again as a new revision.\n");
    else
        fprintf(f, "usage: meterctl push FILE --group G [--wait [--timeout S]] [options]\n"
                   "  Validates FILE, then makes it the group's current revision (CAS).\n");
    fprintf(f, "      --wait             wait until every live member applied or rejected it\n"
               "      --timeout S        seconds to wait (default 30)\n"
               "      --if-revision N    write only if revision N is current (0: none yet)\n"
               "      --force            replace a malformed pipeline node (written by\n"
               "                         something other than meterctl; status names it)\n"
               "      --sign-key FILE    sign with this Ed25519 key (mode 0600; made by\n"
               "                         'meterctl init-credentials DIR')\n"
               "      --author NAME      recorded with the revision (default user@host)\n"
               "      --insecure         write without --auth-file or --sign-key (an open group)\n"
               "      --via URL          push through meterproxy at URL (no ZooKeeper access\n"
               "                         needed; the body is still signed here)\n"
               "      --token-file FILE  meterproxy's bearer token (mode 0600), with --via\n");
    cli_cluster_usage(f);
    fprintf(f, "  Exit status: 0 ok (all applied), 1 invalid or rejected, 2 usage, 3 another\n"
               "  push won the CAS, 4 timed out waiting, 6 cannot reach ZooKeeper.\n");
}

static int parse_args(push_args *a, int argc, char **argv, FILE *out, FILE *err)
{
    bool rollback = strcmp(argv[0], "rollback") == 0;
    memset(a, 0, sizeof *a);
    cli_cluster_init(&a->k, argv[0], out, err);
    a->if_revision = -1;
    a->timeout_ms = PUSH_TIMEOUT_DEFAULT_MS;
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        int r = cli_cluster_option(&a->k, argc, argv, &i);
        if (r < 0) return CLI_USAGE;
        if (r > 0) continue;
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            push_usage(out, rollback);
            return -1;
        }
        if (strcmp(argv[i], "--wait") == 0) {
            a->wait = true;
        } else if (strcmp(argv[i], "--force") == 0) {
            a->force = true;
        } else if (strcmp(argv[i], "--insecure") == 0) {
            a->insecure = true;
        } else if ((r = cli_opt_value(&a->k, argc, argv, &i, "--timeout", NULL, &v)) != 0) {
            char *end;
            double s = r > 0 ? strtod(v, &end) : 0;
            if (r < 0 || *v == '\0' || *end != '\0' || !(s > 0) || s > 86400) {
                if (r > 0) fprintf(err, "meterctl %s: --timeout wants seconds > 0\n", argv[0]);
                return CLI_USAGE;
            }
            a->timeout_ms = (int)(s * 1000 + 0.5);
        } else if ((r = cli_opt_value(&a->k, argc, argv, &i, "--if-revision", NULL, &v)) != 0) {
            if (r < 0 || cli_parse_i64(v, 0, INT32_MAX - 1, &a->if_revision) != 0) {
                if (r > 0)
                    fprintf(err, "meterctl %s: --if-revision wants a number >= 0\n", argv[0]);
                return CLI_USAGE;
            }
        } else if ((r = cli_opt_value(&a->k, argc, argv, &i, "--sign-key", NULL, &v)) != 0) {
            if (r < 0) return CLI_USAGE;
            a->sign_key = v;
        } else if ((r = cli_opt_value(&a->k, argc, argv, &i, "--via", NULL, &v)) != 0) {
            if (r < 0) return CLI_USAGE;
            a->via = v;
        } else if ((r = cli_opt_value(&a->k, argc, argv, &i, "--token-file", NULL, &v)) != 0) {
            if (r < 0) return CLI_USAGE;
            a->token_file = v;
        } else if ((r = cli_opt_value(&a->k, argc, argv, &i, "--author", NULL, &v)) != 0) {
            if (r < 0) return CLI_USAGE;
            a->author = v;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            fprintf(err, "meterctl %s: unknown option '%s'\n", argv[0], argv[i]);
            push_usage(err, rollback);
            return CLI_USAGE;
        } else if (a->arg == NULL) {
            a->arg = argv[i];
        } else {
            fprintf(err, "meterctl %s: one %s only ('%s' is extra)\n", argv[0],
                    rollback ? "revision" : "FILE", argv[i]);
            return CLI_USAGE;
        }
    }
    if (a->arg == NULL) {
        fprintf(err, "meterctl %s: no %s given\n", argv[0], rollback ? "revision N" : "FILE");
        push_usage(err, rollback);
        return CLI_USAGE;
    }
    if (a->via && (!a->token_file || !a->sign_key)) {
        fprintf(err, "meterctl push --via: needs --token-file (the proxy's bearer token) and "
                     "--sign-key (the proxy holds no signing key: the body is signed here)\n");
        return CLI_USAGE;
    }
    if (!a->via && !a->insecure && (!a->sign_key || !a->k.auth_file)) {
        /* a group's agents refuse what no trusted key signed, and an open
         * ZooKeeper tree lets anyone rewrite it: say how to do it right */
        fprintf(err,
                "meterctl %s: refusing to write without %s%s%s: create them with 'meterctl "
                "init-credentials DIR', then pass --auth-file DIR/zk-operator.auth --sign-key "
                "DIR/revision.key (docs/SECURITY.md); --insecure writes anyway\n",
                argv[0], a->k.auth_file ? "" : "ZooKeeper credentials (--auth-file)",
                !a->k.auth_file && !a->sign_key ? " and " : "",
                a->sign_key ? "" : "a signing key (--sign-key)");
        return CLI_USAGE;
    }
    return CLI_OK;
}

/* Diagnostics on stderr (text) or in the error object (json); exit 1. */
static int report_invalid(cli_cluster *k, const char *label, const pipeline_diags *d)
{
    if (k->fmt == CLI_OUT_JSON) {
        json_t *errs = groupview_diags_json(d);
        char msg[600];
        snprintf(msg, sizeof msg, "%s is invalid (%zu error%s): nothing written", label, d->errors,
                 d->errors == 1 ? "" : "s");
        fprintf(k->err, "meterctl %s: %s\n", k->cmd, msg);
        cli_print_json(
            k, json_pack("{s:s, s:i, s:o}", "error", msg, "exit", CLI_FAILED, "errors", errs));
        return CLI_FAILED;
    }
    int need = pipeline_diags_format(d, NULL, 0);
    char *buf = need > 0 ? malloc((size_t)need + 1) : NULL;
    if (buf != NULL) {
        pipeline_diags_format(d, buf, (size_t)need + 1);
        fputs(buf, k->err);
        free(buf);
    }
    fprintf(k->err, "meterctl %s: %s is invalid (%zu error%s): nothing written\n", k->cmd, label,
            d->errors, d->errors == 1 ? "" : "s");
    return CLI_FAILED;
}

/* expanded (may be NULL: a revision from the store is pushed as it is): set
 * to the canonical form when the body names file_sd documents, expanded
 * (paths relative to label's folder), so the revision carries the targets
 * and every member sees the same list; NULL otherwise. */
static int validate_body(cli_cluster *k, const char *body, size_t len, const char *label,
                         char **expanded)
{
    pipeline *p = NULL;
    pipeline_diags d = {0};
    /* the rules meterctl validate, meterproxy and the agents apply */
    int rc = groupview_check_revision(body, len, label, &p, &d);
    if (rc == 0 && expanded && pipeline_has_file_sd(p)) {
        rc = expo_sd_expand(&p, label, &d);
        if (rc == 0 && (*expanded = strdup(p->canonical)) == NULL) rc = -1;
    }
    int code = rc == 0 ? CLI_OK : report_invalid(k, label, &d);
    pipeline_free(p);
    pipeline_diags_free(&d);
    return code;
}

/* Reads --sign-key (group_secret_read(): the bytes agents would read): a PEM
 * Ed25519 key, or any other bytes as a legacy HMAC key. */
static int load_sign_key(push_args *a)
{
    unsigned char *key = NULL;
    size_t keylen = 0;
    char err[600];
    if (group_secret_read(a->sign_key, &key, &keylen, err, sizeof err) != 0)
        return cli_fail(&a->k, CLI_USAGE, "--sign-key: %s", err);
    if (keylen > 10 && !memcmp(key, "-----BEGIN", 10)) {
        int rc = group_signer_load(key, keylen, a->sign_key, &a->signer, err, sizeof err);
        group_secret_free(key, keylen);
        return rc == 0 ? CLI_OK : cli_fail(&a->k, CLI_USAGE, "--sign-key: %s", err);
    }
    fprintf(a->k.err,
            "meterctl %s: warning: %s is a legacy HMAC key (every agent holding it can sign); "
            "see docs/SECURITY.md\n",
            a->k.cmd, a->sign_key);
    a->hmac = key;
    a->hmac_len = keylen;
    return CLI_OK;
}

static void free_sign_key(push_args *a)
{
    group_signer_free(a->signer);
    group_secret_free(a->hmac, a->hmac_len);
    a->signer = NULL;
    a->hmac = NULL;
}

/* The signature for body as revision `number`; `kept`: a rollback's stored
 * signature, reused only when it does not name its number (legacy HMAC). */
static int sign_for(push_args *a, int64_t number, const void *body, size_t len, const char *kept,
                    char out[GROUP_SIGNATURE_MAX])
{
    out[0] = 0;
    int rc = 0;
    if (a->signer)
        rc = group_revision_sign_ed25519(a->signer, a->k.group, number, body, len, out);
    else if (a->hmac)
        rc = group_revision_sign(a->hmac, a->hmac_len, body, len, out);
    else if (kept && !strncmp(kept, GROUP_SIGNATURE_ED25519_PREFIX,
                              sizeof GROUP_SIGNATURE_ED25519_PREFIX - 1))
        return cli_fail(&a->k, CLI_USAGE,
                        "the revision's Ed25519 signature is valid for its own number only: "
                        "sign the rollback with --sign-key");
    else if (kept)
        snprintf(out, GROUP_SIGNATURE_MAX, "%s", kept);
    return rc == 0 ? CLI_OK : cli_fail(&a->k, CLI_FAILED, "signing failed (OpenSSL)");
}

static int sign_cb(void *arg, int64_t number, const void *body, size_t len,
                   char out[GROUP_SIGNATURE_MAX])
{
    return sign_for(arg, number, body, len, NULL, out);
}

static void default_author(char *out, size_t cap)
{
    const char *user = getenv("USER");
    struct passwd pw, *res = NULL;
    char pwbuf[1024];
    if ((user == NULL || *user == '\0') &&
        getpwuid_r(getuid(), &pw, pwbuf, sizeof pwbuf, &res) == 0 && res != NULL)
        user = res->pw_name;
    char host[256] = "";
    if (gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
    snprintf(out, cap, "%s@%s", user && *user ? user : "unknown", host[0] ? host : "unknown");
}

/* --via's arguments from push's (author: 128 bytes, lives as long as v). */
static void via_args(push_args *a, char *author, cli_via *v)
{
    if (a->author)
        snprintf(author, 128, "%s", a->author);
    else
        default_author(author, 128);
    *v = (cli_via){
        a->via, a->token_file, author, a->if_revision, a->wait ? a->timeout_ms : 0, sign_cb, a};
}

static json_t *revision_brief(const coord_revision_t *r)
{
    return json_pack("{s:I, s:s, s:s, s:s}", "number", (json_int_t)r->number, "sha256", r->sha256,
                     "author", r->author, "time", r->time);
}

/* The CAS write and what follows; k is connected. */
static int push_body(push_args *a, const char *body, size_t len, const char *kept,
                     int64_t rollback_of)
{
    cli_cluster *k = &a->k;
    int64_t expected = a->if_revision;
    if (expected < 0) {
        coord_revision_t cur;
        int rc = coord_revision_read(k->c, &cur);
        if (rc == COORD_OK)
            expected = cur.number;
        else if (rc == COORD_ENOENT)
            expected = 0;
        else if (rc == COORD_EMALFORMED && a->force)
            expected = cur.number; /* the bad node's version: the CAS replaces exactly it */
        else if (rc == COORD_EMALFORMED)
            return cli_fail(k, CLI_FAILED,
                            "the group's pipeline node (version %lld) is not a revision "
                            "(written by something other than meterctl?); nothing written: "
                            "--force replaces it",
                            (long long)cur.number);
        else
            return cli_fail(k, rc == COORD_ENOCONN ? CLI_UNREACHABLE : CLI_FAILED,
                            "reading the current revision: %s", coord_strerror(rc));
        if (rc == COORD_EMALFORMED)
            fprintf(k->err, "meterctl %s: replacing the malformed pipeline node (version %lld)\n",
                    k->cmd, (long long)cur.number);
        coord_revision_free(&cur);
    }
    char author[128];
    if (a->author)
        snprintf(author, sizeof author, "%s", a->author);
    else
        default_author(author, sizeof author);
    char signature[GROUP_SIGNATURE_MAX];
    int rc = sign_for(a, expected + 1, body, len, kept, signature);
    if (rc != CLI_OK) return rc;
    int64_t number = 0;
    rc = coord_revision_push(k->c, expected, body, len, author, signature[0] ? signature : NULL,
                             &number);
    int64_t t0 = cli_now_ms();
    if (rc == COORD_ECONFLICT) {
        coord_revision_t cur;
        int rrc = coord_revision_read(k->c, &cur);
        char msg[1024];
        if (rrc == COORD_OK)
            snprintf(msg, sizeof msg,
                     "another push won: revision %lld is current (sha256 %.12s, by %s at %s), "
                     "not %lld; nothing written",
                     (long long)cur.number, cur.sha256, cur.author, cur.time, (long long)expected);
        else
            snprintf(msg, sizeof msg, "revision %lld is no longer current; nothing written",
                     (long long)expected);
        fprintf(k->err, "meterctl %s: %s\n", k->cmd, msg);
        if (k->fmt == CLI_OUT_JSON)
            cli_print_json(k, json_pack("{s:s, s:i, s:I, s:o}", "error", msg, "exit", CLI_CONFLICT,
                                        "expected", (json_int_t)expected, "current",
                                        rrc == COORD_OK ? revision_brief(&cur) : json_null()));
        if (rrc == COORD_OK) coord_revision_free(&cur);
        return CLI_CONFLICT;
    }
    if (rc == COORD_ENOAUTH)
        return cli_fail(k, CLI_FAILED, "ZooKeeper refused the write (ACLs): %s",
                        a->k.auth_file ? "wrong credentials in --auth-file"
                                       : "give the group's credentials with --auth-file");
    if (rc == COORD_ETOOBIG)
        return cli_fail(k, CLI_FAILED, "the revision (%zu bytes) is larger than a ZooKeeper node",
                        len);
    if (rc != COORD_OK)
        return cli_fail(k, rc == COORD_ENOCONN ? CLI_UNREACHABLE : CLI_FAILED,
                        "writing the revision: %s", coord_strerror(rc));
    char sha[65];
    cli_sha256_hex(body, len, sha);
    json_t *doc = NULL;
    if (k->fmt == CLI_OUT_JSON) {
        doc = json_pack("{s:s, s:I, s:s, s:s, s:b, s:I}", "group", k->group, "revision",
                        (json_int_t)number, "sha256", sha, "author", author, "signed",
                        signature[0] != '\0', "size", (json_int_t)len);
        if (rollback_of > 0)
            json_object_set_new(doc, "rollback_of", json_integer((json_int_t)rollback_of));
    } else {
        fprintf(k->out, "revision %lld %s", (long long)number, sha);
        if (rollback_of > 0) fprintf(k->out, " (rollback of %lld)", (long long)rollback_of);
        fputc('\n', k->out);
        fflush(k->out);
    }
    int code = CLI_OK;
    if (a->wait) code = cli_wait_run(k, number, sha, t0, a->timeout_ms, doc);
    if (doc) cli_print_json(k, doc);
    return code;
}

static int connect_for_push(push_args *a)
{
    a->k.without_members = true;
    return cli_cluster_connect(&a->k, true);
}

int cli_cmd_push(int argc, char **argv, FILE *out, FILE *err)
{
    push_args a;
    int rc = parse_args(&a, argc, argv, out, err);
    if (rc != CLI_OK) return rc < 0 ? CLI_OK : rc;
    size_t len = 0;
    char ferr[600];
    char *body = cli_read_file(a.arg, PIPELINE_DEFAULT_MAX_BYTES, &len, ferr, sizeof ferr);
    if (body == NULL) return cli_fail(&a.k, CLI_FAILED, "%s", ferr);
    char *expanded = NULL;
    rc = validate_body(&a.k, body, len, a.arg, &expanded);
    if (expanded) {
        free(body);
        body = expanded;
        len = strlen(body);
    }
    if (rc == CLI_OK && a.sign_key) rc = load_sign_key(&a);
    if (rc == CLI_OK && a.via) {
        char author[128];
        cli_via v;
        via_args(&a, author, &v);
        rc = cli_push_via(&a.k, &v, body, len);
    } else {
        if (rc == CLI_OK) rc = connect_for_push(&a);
        if (rc == CLI_OK) rc = push_body(&a, body, len, NULL, 0);
    }
    cli_cluster_close(&a.k);
    free_sign_key(&a);
    free(body);
    return rc;
}

int cli_cmd_rollback(int argc, char **argv, FILE *out, FILE *err)
{
    push_args a;
    int rc = parse_args(&a, argc, argv, out, err);
    if (rc != CLI_OK) return rc < 0 ? CLI_OK : rc;
    int64_t n = 0;
    if (cli_parse_i64(a.arg, 1, INT32_MAX, &n) != 0) {
        fprintf(err, "meterctl rollback: '%s' is not a revision number\n", a.arg);
        return CLI_USAGE;
    }
    coord_revision_t old = {0};
    if (a.sign_key) rc = load_sign_key(&a);
    if (rc == CLI_OK && a.via) {
        char author[128];
        cli_via v;
        via_args(&a, author, &v);
        rc = cli_rollback_via(&a.k, &v, n);
        free_sign_key(&a);
        return rc;
    }
    if (rc == CLI_OK) rc = connect_for_push(&a);
    if (rc == CLI_OK) {
        int grc = coord_revision_get(a.k.c, n, &old);
        if (grc == COORD_ENOENT)
            rc = cli_fail(&a.k, CLI_FAILED,
                          "revision %lld is not kept in group %s ('meterctl revisions' lists them)",
                          (long long)n, a.k.group);
        else if (grc != COORD_OK)
            rc = cli_fail(&a.k, grc == COORD_ENOCONN ? CLI_UNREACHABLE : CLI_FAILED,
                          "reading revision %lld: %s", (long long)n, coord_strerror(grc));
    }
    char label[64];
    snprintf(label, sizeof label, "revision %lld", (long long)n);
    if (rc == CLI_OK) rc = validate_body(&a.k, (const char *)old.body, old.body_len, label, NULL);
    if (rc == CLI_OK)
        rc = push_body(&a, (const char *)old.body, old.body_len,
                       old.signature[0] ? old.signature : NULL, n);
    cli_cluster_close(&a.k);
    free_sign_key(&a);
    coord_revision_free(&old);
    return rc;
}
