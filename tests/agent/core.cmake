# --- agent core: config, loop, scheduler, reload, API, the meterd binary ---
set(AgentFixture ${CMAKE_CURRENT_SOURCE_DIR}/agent_fixture.c
                 ${CMAKE_CURRENT_SOURCE_DIR}/test_pollster.c)
meterd_test(NAME test_agent_config SOURCES test_agent_config.c LIBS meterd_agent meterd_testharness)
meterd_test(NAME test_agent_loop SOURCES test_agent_loop.c LIBS meterd_agent)
meterd_test(NAME test_agent_allow SOURCES test_agent_allow.c LIBS meterd_agent)
# in-process scheduler and reload: also under valgrind with MEMCHECK=ON
foreach(t sched reload)
  meterd_test(NAME test_agent_${t} SOURCES test_agent_${t}.c ${AgentFixture}
              LIBS meterd_agent meterd_testharness LABELS agent TIMEOUT 120 VALGRIND)
endforeach()
meterd_test(NAME test_agent_api SOURCES test_agent_api.c ${AgentFixture}
            LIBS meterd_agent meterd_testharness LABELS integration TIMEOUT 120)
meterd_test(NAME test_meterd_process SOURCES test_meterd_process.c
            LIBS meterd_testharness PkgConfig::JANSSON LABELS integration TIMEOUT 120
            DAEMON_MEMCHECK)
target_compile_definitions(test_meterd_process PRIVATE MeterdBinary="$<TARGET_FILE:meterd>")
# The API off loopback needs a bearer token (issue 12).
meterd_test(NAME test_api_auth SOURCES test_api_auth.c LIBS meterd_testharness
            LABELS integration TIMEOUT 120)
target_compile_definitions(test_api_auth PRIVATE MeterdBinary="$<TARGET_FILE:meterd>")
# The API under hostile clients, a real meterd at a 1,024-descriptor limit
# (issue 13 item 3): descriptor flood, 431/413, cut heads, slow clients,
# pipelining, the ?target= filter.
meterd_test(NAME test_api_limits SOURCES test_api_limits.c ${CMAKE_SOURCE_DIR}/tests/httpd/client.c
            LIBS meterd_testharness
            PkgConfig::JANSSON LABELS integration TIMEOUT 180)
target_compile_definitions(test_api_limits PRIVATE MeterdBinary="$<TARGET_FILE:meterd>")
add_dependencies(test_api_limits meterd)
# The API server's counters in /metrics (meterd_api_*) move; promtool passes.
meterd_test(NAME test_api_metrics SOURCES test_api_metrics.c ${CMAKE_SOURCE_DIR}/tests/httpd/client.c
            LIBS meterd_testharness LABELS integration TIMEOUT 120)
target_compile_definitions(test_api_metrics PRIVATE MeterdBinary="$<TARGET_FILE:meterd>")
add_dependencies(test_api_metrics meterd)
# The API over HTTPS and mTLS ([api] tls_*), curl as the client.
meterd_test(NAME test_api_tls SOURCES test_api_tls.c LIBS meterd_testharness
            LABELS integration TIMEOUT 120)
target_compile_definitions(test_api_tls PRIVATE MeterdBinary="$<TARGET_FILE:meterd>"
                           MeterctlPath="$<TARGET_FILE:meterctl>")
add_dependencies(test_api_tls meterd meterctl)
meterd_test(NAME test_cluster SOURCES test_cluster.c cluster_fixture.c
            LIBS meterd_coordinator meterd_group meterd_testharness PkgConfig::JANSSON
            LABELS integration TIMEOUT 180)
target_compile_definitions(test_cluster PRIVATE MeterdBinary="$<TARGET_FILE:meterd>"
                           MeterctlPath="$<TARGET_FILE:meterctl>")
add_dependencies(test_cluster meterctl)
meterd_test(NAME test_agent_selfmetrics SOURCES test_agent_selfmetrics.c ${AgentFixture}
            LIBS meterd_agent meterd_testharness LABELS integration TIMEOUT 120)
target_link_libraries(test_cluster PRIVATE meterd_partition PkgConfig::CRYPTO)
# Secure by default (issue 12): signatures, refusals, rotation, and pub-sub
# over TLS, with a real ZooKeeper.
foreach(t security tls)
  meterd_test(NAME test_cluster_${t} SOURCES test_cluster_${t}.c cluster_fixture.c
              LIBS meterd_coordinator meterd_group meterd_partition meterd_testharness
                   PkgConfig::JANSSON meterd::zookeeper
              LABELS integration TIMEOUT 180)
  target_compile_definitions(test_cluster_${t} PRIVATE MeterdBinary="$<TARGET_FILE:meterd>"
                             MeterctlPath="$<TARGET_FILE:meterctl>")
  add_dependencies(test_cluster_${t} meterctl meterd)
endforeach()
# Cluster faults: one binary, seven groups run as separate entries (ctest -j2).
meterd_test(NAME test_cluster_faults SOURCES test_cluster_faults.c cluster_fixture.c tcp_relay.c
            LIBS meterd_coordinator meterd_group meterd_partition meterd_testharness PkgConfig::JANSSON
                 PkgConfig::CRYPTO Threads::Threads
            LABELS integration TIMEOUT 180 ARGS session)
target_compile_definitions(test_cluster_faults PRIVATE MeterdBinary="$<TARGET_FILE:meterd>")
foreach(g zk push bugs leave expiry skew)
  add_test(NAME test_cluster_faults_${g} COMMAND test_cluster_faults ${g})
  set_tests_properties(test_cluster_faults_${g} PROPERTIES LABELS integration TIMEOUT 180)
  meterd_test_props(test_cluster_faults_${g})
endforeach()
# The loop keeps polling while ZooKeeper does not answer (issue 10).
meterd_test(NAME test_cluster_loop SOURCES test_cluster_loop.c cluster_fixture.c
            LIBS meterd_coordinator meterd_group meterd_partition meterd_testharness PkgConfig::JANSSON
                 PkgConfig::CRYPTO Threads::Threads
            LABELS integration TIMEOUT 180)
target_compile_definitions(test_cluster_loop PRIVATE MeterdBinary="$<TARGET_FILE:meterd>")
# a changed source keeps per-target state (issue 14)
meterd_test(NAME test_agent_inherit SOURCES test_agent_inherit.c ${AgentFixture}
            LIBS meterd_agent meterd_testharness LABELS agent TIMEOUT 120 VALGRIND)
# a changed source is diffed in place: kept targets polled once per instant
# across the reload, the interval-change rule, CPU per reload (issue 19)
meterd_test(NAME test_agent_reload_diff SOURCES test_agent_reload_diff.c ${AgentFixture}
            LIBS meterd_agent meterd_testharness LABELS agent TIMEOUT 120)
# dynamic meters (scrape.*): selection per emitted name (issue 14)
meterd_test(NAME test_agent_dynamic SOURCES test_agent_dynamic.c ${AgentFixture}
            LIBS meterd_agent meterd_testharness PkgConfig::JANSSON LABELS agent TIMEOUT 120)
