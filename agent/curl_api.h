/* curl_api.h (internal to agent/): the HTTP client is httpc/ (shared with
 * meterproxy); the agent's files include it under its old name. */
#ifndef METERD_AGENT_CURL_API_H
#define METERD_AGENT_CURL_API_H

#include "httpc/httpc.h"

#endif
