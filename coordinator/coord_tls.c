/*
 * coord_tls.c: nng's TLS transport for the pub-sub fast path
 * (coord_config_t.pubsub_tls_*, docs/SECURITY.md).
 *
 * Each member holds one certificate and key and the group's CA: leading,
 * it listens on tls+tcp:// presenting its certificate and requiring the
 * subscriber's; following, it dials presenting its own and verifying the
 * leader's against the CA and the name COORD_PUBSUB_TLS_NAME (one name for
 * the whole group: the leader changes, its address does not tell who it
 * is). Both ends thus know the peer holds a certificate of the group's CA.
 *
 * TLS is confidentiality and peer authentication, not the trust root: a
 * revision that arrives over TLS is still confirmed against ZooKeeper (or
 * trusted only as the next number with pubsub_trust) and its signature
 * checked by the agent, like any other.
 *
 * A member configured with TLS never speaks plaintext: its listen URL must
 * be tls+tcp:// and it does not dial a leader advertising anything else. A
 * handshake that fails (the peer's certificate does not verify) is retried
 * by nng without telling anyone; the event thread reads nng's per-dialer
 * and per-listener "auth" counters now and then to log why nothing comes.
 */
#include "coord_int.h"

#include <nng/supplemental/tls/tls.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TLS_PREFIX "tls+"
/* how often the counters are read, and a repeated failure logged again */
#define CHECK_MS  1000
#define REPEAT_MS 60000

struct coord_tls {
    nng_tls_config *server, *client;
    /* event thread only */
    nng_listener listener;
    bool listening;
    uint64_t dial_auth, listen_auth; /* counters seen so far */
    int dialer_id;                   /* whose dial_auth that is */
    int64_t next_check_ms, dial_logged_ms, listen_logged_ms;
};

static bool is_tls_url(const char *url)
{
    return !strncmp(url, TLS_PREFIX, strlen(TLS_PREFIX));
}

static int make_config(nng_tls_config **out, nng_tls_mode mode, const coord_config_t *cfg,
                       const char **what)
{
    nng_tls_config *t = NULL;
    int rv = nng_tls_config_alloc(&t, mode);
    if (rv != 0) {
        *what = "nng's TLS (is it built with mbedtls?)";
        return rv;
    }
    if ((rv = nng_tls_config_own_cert(t, cfg->pubsub_tls_cert, cfg->pubsub_tls_key, NULL)) != 0)
        *what = "the certificate and key (pubsub_tls_cert_file, pubsub_tls_key_file: PEM, "
                "a matching pair)";
    else if ((rv = nng_tls_config_ca_chain(t, cfg->pubsub_tls_ca, NULL)) != 0)
        *what = "the CA (pubsub_tls_ca_file: PEM certificates)";
    else if ((rv = nng_tls_config_auth_mode(t, NNG_TLS_AUTH_MODE_REQUIRED)) != 0 ||
             (mode == NNG_TLS_MODE_CLIENT &&
              (rv = nng_tls_config_server_name(t, COORD_PUBSUB_TLS_NAME)) != 0))
        *what = "the TLS settings";
    if (rv != 0) {
        nng_tls_config_free(t);
        return rv;
    }
    *out = t;
    return 0;
}

/* mbedtls takes a key that is not the certificate's, and every handshake
 * then fails: caught here, at start. */
static bool key_matches(const char *cert_pem, const char *key_pem)
{
    BIO *cb = BIO_new_mem_buf(cert_pem, -1), *kb = BIO_new_mem_buf(key_pem, -1);
    X509 *x = cb ? PEM_read_bio_X509(cb, NULL, NULL, NULL) : NULL;
    EVP_PKEY *k = kb ? PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL) : NULL;
    bool ok = x && k && X509_check_private_key(x, k) == 1;
    EVP_PKEY_free(k);
    X509_free(x);
    BIO_free(kb);
    BIO_free(cb);
    return ok;
}

int coord_tls_init(coord_t *c, const coord_config_t *cfg, char *err, size_t errcap)
{
    int given = !!cfg->pubsub_tls_cert + !!cfg->pubsub_tls_key + !!cfg->pubsub_tls_ca;
    if (given == 0) {
        if (c->pubsub_listen[0] && is_tls_url(c->pubsub_listen)) {
            snprintf(err, errcap,
                     "pubsub_listen %s is TLS: it needs pubsub_tls_cert_file, "
                     "pubsub_tls_key_file and pubsub_tls_ca_file",
                     c->pubsub_listen);
            return COORD_EINVAL;
        }
        return COORD_OK;
    }
    if (given != 3) {
        snprintf(err, errcap,
                 "pub-sub TLS needs all three of pubsub_tls_cert_file, pubsub_tls_key_file and "
                 "pubsub_tls_ca_file");
        return COORD_EINVAL;
    }
    if (c->pubsub_listen[0] && !is_tls_url(c->pubsub_listen)) {
        snprintf(err, errcap,
                 "pubsub_listen %s is plaintext while pub-sub TLS is configured: use "
                 "tls+tcp://HOST:PORT",
                 c->pubsub_listen);
        return COORD_EINVAL;
    }
    struct coord_tls *t = calloc(1, sizeof *t);
    if (!t) {
        snprintf(err, errcap, "out of memory");
        return COORD_ESYS;
    }
    const char *what = "";
    int rv = make_config(&t->server, NNG_TLS_MODE_SERVER, cfg, &what);
    if (rv == 0) rv = make_config(&t->client, NNG_TLS_MODE_CLIENT, cfg, &what);
    if (rv == 0 && !key_matches(cfg->pubsub_tls_cert, cfg->pubsub_tls_key)) {
        what = "the certificate and key (pubsub_tls_cert_file, pubsub_tls_key_file)";
        rv = NNG_ECRYPTO;
    }
    if (rv != 0) {
        snprintf(err, errcap, "pub-sub TLS: %s: %s", what,
                 rv == NNG_ECRYPTO ? "the key is not the certificate's" : nng_strerror(rv));
        if (t->server) nng_tls_config_free(t->server);
        if (t->client) nng_tls_config_free(t->client);
        free(t);
        return COORD_EINVAL;
    }
    t->dialer_id = -1;
    c->tls = t;
    return COORD_OK;
}

void coord_tls_fini(coord_t *c)
{
    struct coord_tls *t = c->tls;
    if (!t) return;
    /* nng holds its own reference while a listener or dialer uses one */
    nng_tls_config_free(t->server);
    nng_tls_config_free(t->client);
    free(t);
    c->tls = NULL;
}

int coord_tls_listener(coord_t *c, nng_listener l)
{
    struct coord_tls *t = c->tls;
    if (!t) return 0;
    int rv = nng_listener_set_ptr(l, NNG_OPT_TLS_CONFIG, t->server);
    if (rv == 0) {
        t->listener = l;
        t->listening = true;
        t->listen_auth = 0;
    }
    return rv;
}

int coord_tls_dialer(coord_t *c, nng_dialer d, const char *url)
{
    struct coord_tls *t = c->tls;
    if (!t) {
        if (!is_tls_url(url)) return 0;
        coord_log(c, COORD_LOG_WARN,
                  "pub-sub: the leader publishes over TLS (%s) but pubsub_tls_* is not set here: "
                  "not subscribed, revisions come through ZooKeeper",
                  url);
        return NNG_ENOTSUP;
    }
    if (!is_tls_url(url)) {
        coord_log(c, COORD_LOG_WARN,
                  "pub-sub: the leader publishes in plaintext (%s) and this member requires TLS "
                  "(pubsub_tls_*): not subscribed, revisions come through ZooKeeper",
                  url);
        return NNG_ENOTSUP;
    }
    int rv = nng_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, t->client);
    if (rv == 0) {
        t->dialer_id = nng_dialer_id(d);
        t->dial_auth = 0;
        t->dial_logged_ms = 0;
    }
    return rv;
}

static uint64_t auth_failures(nng_stat *item)
{
    nng_stat *s = item ? nng_stat_find(item, "auth") : NULL;
    return s ? nng_stat_value(s) : 0;
}

void coord_tls_tick(coord_t *c)
{
    struct coord_tls *t = c->tls;
    if (!t) return;
    int64_t now = coord_now_ms();
    if (now < t->next_check_ms) return;
    t->next_check_ms = now + CHECK_MS;
    pthread_mutex_lock(&c->mu);
    /* a connected dialer has nothing to explain */
    bool dialing =
        c->dialer_open && c->dialer_id == t->dialer_id && c->dialer_id > 0 && c->sub_pipes == 0;
    char url[sizeof c->sub_url];
    snprintf(url, sizeof url, "%s", c->sub_url);
    pthread_mutex_unlock(&c->mu);
    pthread_mutex_lock(&c->pub_mu);
    bool listening = t->listening && c->pub_open;
    pthread_mutex_unlock(&c->pub_mu);
    if (!listening) t->listening = false; /* closed with the PUB socket */
    if (!dialing && !listening) return;
    nng_stat *all = NULL;
    if (nng_stats_get(&all) != 0) return;
    uint64_t dial = dialing ? auth_failures(nng_stat_find_dialer(all, c->dialer)) : 0;
    uint64_t listen = listening ? auth_failures(nng_stat_find_listener(all, t->listener)) : 0;
    nng_stats_free(all);
    if (dialing && dial > t->dial_auth) {
        if (!t->dial_logged_ms || now - t->dial_logged_ms >= REPEAT_MS) {
            coord_log(c, COORD_LOG_ERROR,
                      "pub-sub: TLS handshake with the leader at %s failed (%llu time(s)): its "
                      "certificate does not verify against pubsub_tls_ca_file for the name %s, "
                      "or it refused ours; not subscribed, revisions come through ZooKeeper",
                      url, (unsigned long long)dial, COORD_PUBSUB_TLS_NAME);
            t->dial_logged_ms = now;
        }
        t->dial_auth = dial;
    }
    if (listening && listen > t->listen_auth) {
        if (!t->listen_logged_ms || now - t->listen_logged_ms >= REPEAT_MS) {
            coord_log(c, COORD_LOG_WARN,
                      "pub-sub: refused %llu TLS subscriber connection(s) whose certificate "
                      "does not verify against pubsub_tls_ca_file (or that refused ours)",
                      (unsigned long long)(listen - t->listen_auth));
            t->listen_logged_ms = now;
        }
        t->listen_auth = listen;
    }
}
