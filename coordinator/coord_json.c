/*
 * coord_json.c: the formats we store in ZooKeeper, and nothing else.
 *
 * Member node: one JSON object (jansson), fields named as in the design,
 * namespaces as an array. Unknown keys are ignored (newer agents may add
 * some); known keys of the wrong type make the node malformed, and the
 * caller logs and skips it rather than guessing.
 *
 * Revision node: a one-line JSON header, '\n', then the body bytes verbatim.
 * The body stays opaque (any bytes, no escaping, no base64 growth) while the
 * header stays readable with `zkCli get`. The header carries body_len and the
 * body's sha256, checked on every decode, so a truncated or hand-edited node
 * is detected instead of applied.
 */
#include "coord_int.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *coord_strerror(int rc)
{
    switch (rc) {
    case COORD_OK:
        return "ok";
    case COORD_EINVAL:
        return "invalid argument";
    case COORD_ECONFLICT:
        return "conflict: the stored version changed (CAS lost)";
    case COORD_ENOTLEADER:
        return "not the leader";
    case COORD_ENOCONN:
        return "no ZooKeeper session";
    case COORD_ENOAUTH:
        return "not authorized by ZooKeeper ACLs";
    case COORD_ENOENT:
        return "not found";
    case COORD_EMALFORMED:
        return "malformed data in ZooKeeper";
    case COORD_ETOOBIG:
        return "data too large";
    case COORD_ETIMEOUT:
        return "timed out";
    default:
        return "system or unexpected ZooKeeper error";
    }
}

const char *coord_state_name(coord_state_t s)
{
    switch (s) {
    case COORD_CONNECTING:
        return "connecting";
    case COORD_CONNECTED:
        return "connected";
    case COORD_DISCONNECTED:
        return "disconnected";
    case COORD_EXPIRED:
        return "expired";
    case COORD_AUTH_FAILED:
        return "auth_failed";
    default:
        return "closed";
    }
}

void coord_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
    for (unsigned i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

int coord_member_info_to_json(const coord_member_info_t *in, char **json_out)
{
    json_t *ns = json_array();
    const char *p = in->namespaces;
    while (ns && *p) {
        size_t len = strcspn(p, ",");
        if (len) json_array_append_new(ns, json_stringn(p, len));
        p += len;
        if (*p == ',') p++;
    }
    json_t *o = json_pack("{s:s, s:I, s:o, s:I, s:s, s:I, s:s, s:I, s:s, s:s, s:s}", "host",
                          in->host, "pid", (json_int_t)in->pid, "namespaces", ns, "weight",
                          (json_int_t)(in->weight > 0 ? in->weight : 1), "api", in->api,
                          "applied_revision", (json_int_t)in->applied_revision, "applied_sha256",
                          in->applied_sha256, "owned", (json_int_t)in->owned, "assignment_digest",
                          in->assignment_digest, "state", in->state, "last_error", in->last_error);
    if (!o) return COORD_ESYS;
    if (in->insecure) json_object_set_new(o, "insecure", json_true()); /* absent: secure */
    if (in->ready[0]) json_object_set_new(o, "ready", json_string(in->ready));
    if (in->session_timeout_ms > 0)
        json_object_set_new(o, "session_timeout_ms", json_integer(in->session_timeout_ms));
    *json_out = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    return *json_out ? COORD_OK : COORD_ESYS;
}

/* "<key> <what>" (key may be NULL) into err; returns COORD_EMALFORMED. */
static int bad(char *err, size_t cap, const char *key, const char *what)
{
    if (err && cap)
        snprintf(err, cap, "%s%s%s%s", key ? "\"" : "", key ? key : "", key ? "\" " : "", what);
    return COORD_EMALFORMED;
}

static int get_str(json_t *o, const char *key, char *dst, size_t cap, char *err, size_t errcap)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return COORD_OK;
    if (!json_is_string(v)) return bad(err, errcap, key, "must be a string");
    if (json_string_length(v) >= cap) return bad(err, errcap, key, "is too long");
    memcpy(dst, json_string_value(v), json_string_length(v) + 1);
    return COORD_OK;
}

static int get_int(json_t *o, const char *key, int64_t *dst, char *err, size_t errcap)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return COORD_OK;
    if (!json_is_integer(v)) return bad(err, errcap, key, "must be an integer");
    *dst = json_integer_value(v);
    return COORD_OK;
}

int coord_member_info_from_json(const char *json, size_t len, coord_member_info_t *out, char *err,
                                size_t errcap)
{
    memset(out, 0, sizeof *out);
    json_error_t je;
    json_t *o = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
    if (!o) {
        if (err && errcap)
            snprintf(err, errcap, "bad JSON at line %d column %d: %s", je.line, je.column, je.text);
        return COORD_EMALFORMED;
    }
    int rc = COORD_OK;
    if (!json_is_object(o)) rc = bad(err, errcap, NULL, "expected a JSON object");
    if (!rc) rc = get_str(o, "host", out->host, sizeof out->host, err, errcap);
    if (!rc) rc = get_int(o, "pid", &out->pid, err, errcap);
    if (!rc) rc = get_int(o, "weight", &out->weight, err, errcap);
    if (!rc) rc = get_str(o, "api", out->api, sizeof out->api, err, errcap);
    if (!rc) rc = get_int(o, "applied_revision", &out->applied_revision, err, errcap);
    if (!rc)
        rc = get_str(o, "applied_sha256", out->applied_sha256, sizeof out->applied_sha256, err,
                     errcap);
    if (!rc) rc = get_int(o, "owned", &out->owned, err, errcap);
    if (!rc)
        rc = get_str(o, "assignment_digest", out->assignment_digest, sizeof out->assignment_digest,
                     err, errcap);
    if (!rc) rc = get_str(o, "state", out->state, sizeof out->state, err, errcap);
    if (!rc) rc = get_str(o, "last_error", out->last_error, sizeof out->last_error, err, errcap);
    if (!rc) out->insecure = json_is_true(json_object_get(o, "insecure"));
    if (!rc) rc = get_str(o, "ready", out->ready, sizeof out->ready, err, errcap);
    if (!rc) rc = get_int(o, "session_timeout_ms", &out->session_timeout_ms, err, errcap);
    json_t *ns = rc ? NULL : json_object_get(o, "namespaces");
    if (ns && !json_is_array(ns)) rc = bad(err, errcap, NULL, "\"namespaces\" must be an array");
    size_t i, used = 0;
    json_t *v;
    if (ns && !rc) json_array_foreach(ns, i, v)
        {
            if (!json_is_string(v)) {
                rc = bad(err, errcap, NULL, "\"namespaces\" must hold strings");
                break;
            }
            int n = snprintf(out->namespaces + used, sizeof out->namespaces - used, "%s%s",
                             used ? "," : "", json_string_value(v));
            if (n < 0 || (size_t)n >= sizeof out->namespaces - used) {
                rc = bad(err, errcap, NULL, "\"namespaces\" is too long");
                break;
            }
            used += (size_t)n;
        }
    if (!rc && out->weight < 0) rc = bad(err, errcap, NULL, "\"weight\" must not be negative");
    json_decref(o);
    return rc;
}

void coord_members_free(coord_members_t *m)
{
    if (!m) return;
    free(m->members);
    memset(m, 0, sizeof *m);
}

void coord_revision_free(coord_revision_t *r)
{
    if (!r) return;
    free(r->body);
    r->body = NULL;
    r->body_len = 0;
}

int coord_revision_encode(const coord_revision_t *r, char **out, size_t *out_len)
{
    json_t *h =
        json_pack("{s:I, s:s, s:s, s:s, s:I}", "number", (json_int_t)r->number, "sha256", r->sha256,
                  "author", r->author, "time", r->time, "body_len", (json_int_t)r->body_len);
    if (!h) return COORD_ESYS;
    if (r->signature[0]) json_object_set_new(h, "signature", json_string(r->signature));
    char *line = json_dumps(h, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(h);
    if (!line) return COORD_ESYS;
    size_t hl = strlen(line);
    char *buf = malloc(hl + 1 + r->body_len + 1);
    if (!buf) {
        free(line);
        return COORD_ESYS;
    }
    memcpy(buf, line, hl);
    buf[hl] = '\n';
    if (r->body_len) memcpy(buf + hl + 1, r->body, r->body_len);
    buf[hl + 1 + r->body_len] = 0;
    free(line);
    *out = buf;
    *out_len = hl + 1 + r->body_len;
    return COORD_OK;
}

int coord_revision_decode(const void *data, size_t len, coord_revision_t *out, char *err,
                          size_t errcap)
{
    memset(out, 0, sizeof *out);
    const char *p = data;
    const char *nl = len ? memchr(p, '\n', len) : NULL;
    if (!nl) return bad(err, errcap, NULL, "no header line");
    json_error_t je;
    json_t *h = json_loadb(p, (size_t)(nl - p), JSON_REJECT_DUPLICATES, &je);
    if (!h) {
        if (err && errcap) snprintf(err, errcap, "bad header JSON: %s", je.text);
        return COORD_EMALFORMED;
    }
    int rc = json_is_object(h) ? COORD_OK : bad(err, errcap, NULL, "header is not an object");
    int64_t body_len = -1;
    if (!rc) rc = get_int(h, "number", &out->number, err, errcap);
    if (!rc) rc = get_int(h, "body_len", &body_len, err, errcap);
    if (!rc) rc = get_str(h, "sha256", out->sha256, sizeof out->sha256, err, errcap);
    if (!rc) rc = get_str(h, "author", out->author, sizeof out->author, err, errcap);
    if (!rc) rc = get_str(h, "time", out->time, sizeof out->time, err, errcap);
    if (!rc) rc = get_str(h, "signature", out->signature, sizeof out->signature, err, errcap);
    json_decref(h);
    if (rc) return rc;
    size_t have = len - (size_t)(nl + 1 - p);
    if (out->number <= 0) return bad(err, errcap, NULL, "\"number\" must be positive");
    if (body_len < 0 || (uint64_t)body_len != have)
        return bad(err, errcap, NULL, "\"body_len\" does not match the stored body");
    char sha[65];
    coord_sha256_hex(nl + 1, have, sha);
    if (strcmp(sha, out->sha256) != 0)
        return bad(err, errcap, NULL, "body does not match its \"sha256\"");
    out->body = malloc(have + 1);
    if (!out->body) return COORD_ESYS;
    memcpy(out->body, nl + 1, have);
    out->body[have] = 0;
    out->body_len = have;
    return COORD_OK;
}
