# Install rules and the Debian package (CPack DEB).
#
# `cmake --install` puts the programs, man pages, the example configuration,
# the systemd units and meterctl's bash completion at the GNUInstallDirs
# paths. Configured with -DCMAKE_INSTALL_PREFIX=/usr (as the package is),
# configuration goes to /etc/meterd and units to /lib/systemd/system, where
# Debian 12's systemd and lintian expect them; with any other prefix both
# stay under it, so a trial install never writes outside its prefix.
include(GNUInstallDirs)

if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(MeterdUnitDirDefault /lib/systemd/system)
  set(MeterdConfDir ${CMAKE_INSTALL_FULL_SYSCONFDIR}/meterd) # /etc/meterd
else()
  # relative: `cmake --install --prefix P` relocates them under P
  set(MeterdUnitDirDefault lib/systemd/system)
  set(MeterdConfDir ${CMAKE_INSTALL_SYSCONFDIR}/meterd)
endif()
set(METERD_SYSTEMD_UNITDIR ${MeterdUnitDirDefault} CACHE PATH "Where systemd units are installed")

install(TARGETS meterd RUNTIME DESTINATION ${CMAKE_INSTALL_SBINDIR})
install(TARGETS meterctl RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS meterproxy RUNTIME DESTINATION ${CMAKE_INSTALL_SBINDIR})

# Man pages, compressed as Debian policy wants (gzip -n: no timestamp, so the
# package is reproducible).
set(MeterdManPages meterd.8 meterctl.1 meterd.conf.5 meterd-pipeline.5 meterproxy.8)
set(MeterdManGz)
foreach(page IN LISTS MeterdManPages)
  string(REGEX REPLACE ".*\\.([0-9])$" "\\1" section ${page})
  set(gz ${CMAKE_BINARY_DIR}/man/${page}.gz)
  add_custom_command(OUTPUT ${gz}
                     COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/man
                     COMMAND gzip -9nc ${CMAKE_SOURCE_DIR}/docs/man/${page} > ${gz}
                     DEPENDS ${CMAKE_SOURCE_DIR}/docs/man/${page} VERBATIM)
  list(APPEND MeterdManGz ${gz})
  install(FILES ${gz} DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section})
endforeach()

# The Debian changelog, compressed the same way, with the project's version
# (a native package: the version has no Debian revision, so it is changelog.gz).
set(MeterdChangelog ${CMAKE_BINARY_DIR}/debian/changelog)
configure_file(${CMAKE_SOURCE_DIR}/deploy/debian/changelog.in ${MeterdChangelog} @ONLY)
add_custom_command(OUTPUT ${MeterdChangelog}.gz
                   COMMAND gzip -9nc ${MeterdChangelog} > ${MeterdChangelog}.gz
                   DEPENDS ${MeterdChangelog} VERBATIM)
# The operator's guide, beside the examples (the units' Documentation=).
set(MeterdGuide ${CMAKE_BINARY_DIR}/doc/OPERATIONS.md.gz)
add_custom_command(OUTPUT ${MeterdGuide}
                   COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/doc
                   COMMAND gzip -9nc ${CMAKE_SOURCE_DIR}/docs/OPERATIONS.md > ${MeterdGuide}
                   DEPENDS ${CMAKE_SOURCE_DIR}/docs/OPERATIONS.md VERBATIM)
add_custom_target(meterd_install_data ALL
                  DEPENDS ${MeterdManGz} ${MeterdChangelog}.gz ${MeterdGuide})

install(FILES ${CMAKE_SOURCE_DIR}/deploy/meterd.conf ${CMAKE_SOURCE_DIR}/deploy/meterproxy.conf
        DESTINATION ${MeterdConfDir})
install(FILES ${CMAKE_SOURCE_DIR}/deploy/pipeline.yaml
        DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)
# The unit names /usr/sbin/meterd (the package's path); another prefix gets
# its own sbin in the installed copy.
file(READ ${CMAKE_SOURCE_DIR}/deploy/systemd/meterd@.service MeterdUnit)
string(REPLACE "/usr/sbin/meterd" "${CMAKE_INSTALL_FULL_SBINDIR}/meterd" MeterdUnit "${MeterdUnit}")
file(GENERATE OUTPUT ${CMAKE_BINARY_DIR}/systemd/meterd@.service CONTENT "${MeterdUnit}")
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
             ${CMAKE_SOURCE_DIR}/deploy/systemd/meterd@.service)
install(FILES ${CMAKE_BINARY_DIR}/systemd/meterd@.service DESTINATION ${METERD_SYSTEMD_UNITDIR})
file(READ ${CMAKE_SOURCE_DIR}/deploy/systemd/meterproxy.service MeterproxyUnit)
string(REPLACE "/usr/sbin/meterproxy" "${CMAKE_INSTALL_FULL_SBINDIR}/meterproxy" MeterproxyUnit
               "${MeterproxyUnit}")
file(GENERATE OUTPUT ${CMAKE_BINARY_DIR}/systemd/meterproxy.service CONTENT "${MeterproxyUnit}")
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
             ${CMAKE_SOURCE_DIR}/deploy/systemd/meterproxy.service)
install(FILES ${CMAKE_BINARY_DIR}/systemd/meterproxy.service DESTINATION ${METERD_SYSTEMD_UNITDIR})
foreach(role compute ipmi)
  install(FILES ${CMAKE_SOURCE_DIR}/deploy/systemd/meterd@${role}.service.d/role.conf
          DESTINATION ${METERD_SYSTEMD_UNITDIR}/meterd@${role}.service.d)
endforeach()
install(FILES ${CMAKE_SOURCE_DIR}/deploy/bash-completion/meterctl
        DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions)
install(FILES ${CMAKE_SOURCE_DIR}/deploy/debian/copyright ${MeterdChangelog}.gz ${MeterdGuide}
        DESTINATION ${CMAKE_INSTALL_DOCDIR})

# ---- the Debian package: cpack -G DEB in a build configured with
# -DCMAKE_INSTALL_PREFIX=/usr (deploy/test.sh's packaging step) ----
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME meterd)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "meterd maintainers <meterd@example.org>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "coordinated cluster of metrics polling agents")
# CPack puts the summary first, indents these lines and turns the empty one into " ."
string(CONCAT CPACK_DEBIAN_PACKAGE_DESCRIPTION
       "meterd polls host, cgroup, perf and IPMI metrics on a schedule given by a\n"
       "Ceilometer-style pipeline and publishes them to files, statsd, HTTP and\n"
       "Prometheus. Agents of a group share their targets through ZooKeeper and\n"
       "take over each other's share when one fails.\n"
       "\n"
       "This package holds the meterd daemon, its systemd units (meterd@.service,\n"
       "one instance per role), the meterctl operator command and meterproxy,\n"
       "the cluster's REST gateway for a head node.")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://example.org/meterd")
# Runtime libraries from dpkg-shlibdeps; libcurl is loaded on first use of an
# http(s):// publisher (agent/curl_api.c), so shlibdeps cannot see it.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "libcurl4")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "zookeeperd, prometheus")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_SOURCE_DIR}/deploy/debian/postinst ${CMAKE_SOURCE_DIR}/deploy/debian/postrm
    ${CMAKE_SOURCE_DIR}/deploy/debian/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_STRIP_FILES ON)
include(CPack)
