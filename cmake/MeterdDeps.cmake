# Finds every third-party library meterd builds against. A missing one stops
# configuration with the Debian package that provides it (deploy/deps.sh
# installs them all).
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)

function(meterd_pkg target module debpkg)
  pkg_check_modules(${target} IMPORTED_TARGET ${module})
  if(NOT ${target}_FOUND)
    message(FATAL_ERROR "meterd needs ${module}: apt-get install ${debpkg} (or run deploy/deps.sh)")
  endif()
endfunction()

# Libraries that ship no pkg-config file: header + library, wrapped in an
# imported target so modules link them the same way.
function(meterd_lib target header lib debpkg)
  find_path(${target}_INC ${header})
  find_library(${target}_LIB ${lib})
  if(NOT ${target}_INC OR NOT ${target}_LIB)
    message(FATAL_ERROR "meterd needs ${header} and lib${lib}: apt-get install ${debpkg} (or run deploy/deps.sh)")
  endif()
  add_library(meterd::${target} INTERFACE IMPORTED GLOBAL)
  target_include_directories(meterd::${target} INTERFACE ${${target}_INC})
  target_link_libraries(meterd::${target} INTERFACE ${${target}_LIB} Threads::Threads)
endfunction()

meterd_pkg(YAML yaml-0.1 libyaml-dev)
meterd_pkg(JANSSON jansson libjansson-dev)
meterd_pkg(INIH inih libinih-dev)
meterd_pkg(CURL libcurl libcurl4-openssl-dev)
meterd_pkg(CRYPTO libcrypto libssl-dev)
meterd_pkg(IPMIMON libipmimonitoring libipmimonitoring-dev)
meterd_pkg(MHD libmicrohttpd libmicrohttpd-dev)
meterd_pkg(GNUTLS gnutls libgnutls28-dev)
meterd_lib(zookeeper zookeeper/zookeeper.h zookeeper_mt libzookeeper-mt-dev)
target_compile_definitions(meterd::zookeeper INTERFACE THREADED)
meterd_lib(pfm perfmon/pfmlib_perf_event.h pfm libpfm4-dev)

find_package(nng CONFIG QUIET)
if(NOT nng_FOUND)
  message(FATAL_ERROR "meterd needs nng: apt-get install libnng-dev (or run deploy/deps.sh)")
endif()

if(BUILD_TESTING OR NOT DEFINED BUILD_TESTING)
  pkg_check_modules(CMOCKA IMPORTED_TARGET cmocka)
  if(NOT CMOCKA_FOUND)
    message(FATAL_ERROR "meterd's tests need cmocka: apt-get install libcmocka-dev (or run deploy/deps.sh)")
  endif()
endif()
