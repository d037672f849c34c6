/*
 * curl_api.h (internal to agent/): libcurl, loaded on first use.
 *
 * libcurl drags some 25 shared libraries into a process (TLS stacks, LDAP,
 * Kerberos, SSH, IDN...), about 3 MB of resident memory, for a feature most
 * agents never use: only http(s):// publishers need it. So meterd does not
 * link it; the first http(s) publisher opened loads libcurl.so.4 with
 * dlopen, resolves the functions below once and runs curl_global_init.
 * The table is immutable after that one-time initialisation (pthread_once).
 */
#ifndef METERD_AGENT_CURL_API_H
#define METERD_AGENT_CURL_API_H

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
    struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
    void (*slist_free_all)(struct curl_slist *);
} curl_api;

/* The loaded API, or NULL with the reason in err (libcurl4 not installed). */
const curl_api *curl_api_get(char *err, size_t errlen);

#endif
