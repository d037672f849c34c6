/*
 * fuzz_api.c: the agent's HTTP API as a client on the network sees it: each
 * input is sent as raw bytes over loopback to an agent running in this
 * process (token configured, so the Authorization header is judged), then
 * the write half is closed and the answer read. What is fuzzed is meterd's
 * own handling: httpd's callbacks (head size, body limits, query and
 * header lookups, deferred/refused answers) and http_api.c's routing,
 * token check and ?target= filter; libmicrohttpd parses underneath. An
 * answer, if any, must be HTTP; the agent must never crash or leak.
 */
#include "agent/agent.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static agent *the_agent;
static int port;

static void *run(void *arg)
{
    agent_run(arg);
    return NULL;
}

static char dir[] = "/tmp/meterd-fuzz-api.XXXXXX";

/* The agent keeps running until the process ends; its files need not. */
static void remove_dir(void)
{
    const char *names[] = {"meterd.conf", "pipeline.yaml", "token"};
    char path[128];
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0 || chmod(path, mode) != 0) abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    signal(SIGPIPE, SIG_IGN);
    if (!mkdtemp(dir)) abort();
    atexit(remove_dir);
    char conf[128], pipe_path[128], token[128], text[1024];
    snprintf(conf, sizeof conf, "%s/meterd.conf", dir);
    snprintf(pipe_path, sizeof pipe_path, "%s/pipeline.yaml", dir);
    snprintf(token, sizeof token, "%s/token", dir);
    write_file(token, "fuzz-token-0123456789\n", 0600);
    write_file(pipe_path,
               "sources:\n  - name: host\n    interval: 3600\n    meters: ['host.load']\n", 0644);
    snprintf(text, sizeof text,
             "[DEFAULT]\nlog_level = error\nreload_pipeline_config = false\n"
             "[polling]\ncfg_file = %s\n"
             "[api]\nport = 0\ntoken_file = %s\nheader_timeout_ms = 1000\n",
             pipe_path, token);
    write_file(conf, text, 0644);
    agent_options opt = {.config_path = conf};
    char err[2048];
    if (!(the_agent = agent_new(&opt, err, sizeof err))) {
        fprintf(stderr, "fuzz_api: %s\n", err);
        abort();
    }
    pthread_t t;
    if (pthread_create(&t, NULL, run, the_agent) != 0) abort();
    pthread_detach(t);
    port = agent_api_port(the_agent);
    if (port <= 0) abort();
    return 0;
}

/* True once resp holds one whole answer (head + Content-Length bytes). */
static bool answered(const char *resp, size_t got)
{
    const char *end = strstr(resp, "\r\n\r\n");
    const char *cl = strcasestr(resp, "\r\nContent-Length:");
    if (!end || !cl || cl > end) return false;
    return got >= (size_t)(end + 4 - resp) + strtoul(cl + 17, NULL, 10);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) abort();
    /* the server may answer and close before all is sent (431, 413): fine */
    for (size_t off = 0; off < size;) {
        ssize_t w = send(fd, data + off, size - off, MSG_NOSIGNAL);
        if (w <= 0) break;
        off += (size_t)w;
    }
    shutdown(fd, SHUT_WR);
    static char resp[1 << 16];
    size_t got = 0;
    for (;;) {
        /* the first byte may take until header_timeout_ms (a head left
         * open); a whole answer (or a pause) ends it: libmicrohttpd keeps a
         * keep-alive connection whose client half-closed with its request
         * open until idle_timeout_ms, and the fuzzer must not wait that */
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, got ? 50 : 3000) != 1) break;
        ssize_t r = recv(fd, resp + got, sizeof resp - 1 - got, 0);
        if (r <= 0) break;
        got += (size_t)r;
        resp[got] = '\0';
        if (answered(resp, got) || got == sizeof resp - 1) break;
    }
    close(fd);
    if (got >= 5 && memcmp(resp, "HTTP/", 5) != 0) abort();
    return 0;
}
