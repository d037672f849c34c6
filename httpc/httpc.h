/*
 * httpc.h: the HTTP client of meterd and meterproxy: libcurl, loaded on
 * first use, and a multi engine (moved from agent/ so meterproxy's fan-out
 * to agents runs on the same code as the agent's pollsters).
 *
 * libcurl drags some 25 shared libraries into a process (TLS stacks, LDAP,
 * Kerberos, SSH, IDN...), about 3 MB of resident memory, for a feature most
 * agents never use: only http(s):// publishers need it. So meterd does not
 * link it; the first http(s) publisher opened loads libcurl.so.4 with
 * dlopen, resolves the functions below once and runs curl_global_init.
 * The table is immutable after that one-time initialisation (pthread_once).
 *
 * curl_engine: many transfers at once on one thread. Central pollsters
 * (http.*, scrape.*) start thousands of requests per interval, each of which
 * may wait seconds on a silent peer; a thread per request, or a worker held
 * per request, cannot do that. An engine is one libcurl multi handle driven
 * by one thread of its own (curl_multi_poll, woken by curl_multi_wakeup when
 * a transfer is added): a pollster's start() configures an easy handle and
 * adds it, and the engine calls back when it ends. Only the engine's thread
 * touches the multi handle.
 */
#ifndef METERD_HTTPC_H
#define METERD_HTTPC_H

#include <curl/curl.h>
#include <stddef.h>

typedef struct curl_api {
    CURL *(*easy_init)(void);
    CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
    CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
    void (*easy_cleanup)(CURL *);
    const char *(*easy_strerror)(CURLcode);
    CURLM *(*multi_init)(void);
    CURLMcode (*multi_add_handle)(CURLM *, CURL *);
    CURLMcode (*multi_remove_handle)(CURLM *, CURL *);
    CURLMcode (*multi_perform)(CURLM *, int *);
    CURLMsg *(*multi_info_read)(CURLM *, int *);
    CURLMcode (*multi_poll)(CURLM *, struct curl_waitfd *, unsigned int, int, int *);
    CURLMcode (*multi_wakeup)(CURLM *);
    CURLMcode (*multi_cleanup)(CURLM *);
    CURLMcode (*multi_setopt)(CURLM *, CURLMoption, ...);
    struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
    void (*slist_free_all)(struct curl_slist *);
} curl_api;

/* The loaded API, or NULL with the reason in err (libcurl4 not installed). */
const curl_api *curl_api_get(char *err, size_t errlen);

typedef struct curl_engine curl_engine;

/* Called on the engine's thread when a transfer ends: result is its CURLcode
 * (CURLE_ABORTED_BY_CALLBACK when the engine was cancelled or freed). The easy
 * handle is out of the multi handle again and belongs to the caller. */
typedef void (*curl_engine_done_fn)(void *arg, CURL *easy, CURLcode result);

/* Loads libcurl and starts the engine's thread; NULL with err. */
curl_engine *curl_engine_new(char *err, size_t errlen);
/* Adds a configured easy handle (the engine owns its CURLOPT_PRIVATE); any
 * thread. 0, or -1 when cancelled / out of memory (done is then not called). */
int curl_engine_add(curl_engine *e, CURL *easy, curl_engine_done_fn done, void *arg);
/* Ends every transfer in flight (done with CURLE_ABORTED_BY_CALLBACK) and
 * refuses new ones; returns once every done has run. Any thread but the engine's. */
void curl_engine_cancel(curl_engine *e);
/* Transfers added and not yet done. */
size_t curl_engine_active(curl_engine *e);
/* Cancels, joins the thread, frees. NULL is fine. */
void curl_engine_free(curl_engine *e);

/*
 * A pollster's engine, made by its first poll (an agent that never probes or
 * scrapes never loads libcurl) and shared by every poll of the process. The
 * three hooks have the signatures of pollster_plugin's process_init,
 * process_cancel and process_shutdown, so a row points at them as they are;
 * curl_engine_of() is what start() calls: the engine, or NULL with err (no
 * libcurl, or the agent is stopping and a cancel already ran).
 */
struct plugin_ctx;
int curl_engine_process_init(const struct plugin_ctx *ctx, void **pstate, char *err, size_t errlen);
curl_engine *curl_engine_of(void *pstate, char *err, size_t errlen);
void curl_engine_process_cancel(void *pstate);
void curl_engine_process_shutdown(void *pstate);

#endif
