/*
 * curl_api.c: see curl_api.h. One pthread_once: dlopen, dlsym every
 * function, curl_global_init. A failure is remembered with its reason and
 * reported to every caller, never retried (the library will not appear).
 */
#include "httpc/httpc.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

static struct {
    pthread_once_t once;
    curl_api api;
    int ok;
    char why[256];
} lib = {.once = PTHREAD_ONCE_INIT};

static void load(void)
{
    void *h = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(lib.why, sizeof lib.why,
                 "http(s) publishers and pollsters need libcurl (apt-get install "
                 "libcurl4): %s",
                 dlerror());
        return;
    }
    struct {
        const char *name;
        void **slot;
    } syms[] = {
        {"curl_easy_init", (void **)&lib.api.easy_init},
        {"curl_easy_setopt", (void **)&lib.api.easy_setopt},
        {"curl_easy_getinfo", (void **)&lib.api.easy_getinfo},
        {"curl_easy_cleanup", (void **)&lib.api.easy_cleanup},
        {"curl_easy_strerror", (void **)&lib.api.easy_strerror},
        {"curl_multi_init", (void **)&lib.api.multi_init},
        {"curl_multi_add_handle", (void **)&lib.api.multi_add_handle},
        {"curl_multi_remove_handle", (void **)&lib.api.multi_remove_handle},
        {"curl_multi_perform", (void **)&lib.api.multi_perform},
        {"curl_multi_info_read", (void **)&lib.api.multi_info_read},
        {"curl_multi_poll", (void **)&lib.api.multi_poll},
        {"curl_multi_wakeup", (void **)&lib.api.multi_wakeup},
        {"curl_multi_cleanup", (void **)&lib.api.multi_cleanup},
        {"curl_multi_setopt", (void **)&lib.api.multi_setopt},
        {"curl_slist_append", (void **)&lib.api.slist_append},
        {"curl_slist_free_all", (void **)&lib.api.slist_free_all},
    };
    for (size_t i = 0; i < sizeof syms / sizeof syms[0]; i++) {
        void *f = dlsym(h, syms[i].name);
        if (!f) {
            snprintf(lib.why, sizeof lib.why, "libcurl.so.4 lacks %s (libcurl too old?)",
                     syms[i].name);
            return; /* the handle stays open: harmless, and dlclose buys nothing */
        }
        memcpy(syms[i].slot, &f, sizeof f);
    }
    CURLcode (*global_init)(long) = NULL;
    void *gi = dlsym(h, "curl_global_init");
    memcpy(&global_init, &gi, sizeof gi);
    if (!global_init || global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(lib.why, sizeof lib.why, "curl_global_init failed");
        return;
    }
    lib.ok = 1;
}

const curl_api *curl_api_get(char *err, size_t errlen)
{
    pthread_once(&lib.once, load);
    if (lib.ok) return &lib.api;
    snprintf(err, errlen, "%s", lib.why);
    return NULL;
}
