# Module boundaries, enforced by the compiler rather than by review.
#
# Every module <m> is one static library, meterd_<m>, with one public header
# <m>/<m>.h. Sources everywhere include headers as "<m>/<file>.h", so the
# include path decides what a file can see:
#   - build/include/public/<m>/<m>.h is a link to the public header only; a
#     target that links meterd_<m> gets that folder (PUBLIC), so it can
#     include <m>/<m>.h and nothing else of <m>;
#   - build/include/private/<m> links to the whole module folder; only the
#     module's own sources get it (PRIVATE), and tests, benches and fuzz
#     targets that drive internals ask for it by linking meterd_<m>_internal.
# There is no global include_directories(): an include of another module's
# internal header fails to compile.

function(meterd_module_includes name dir)
  set(pub ${CMAKE_BINARY_DIR}/include/public/${name})
  set(priv ${CMAKE_BINARY_DIR}/include/private/${name})
  file(MAKE_DIRECTORY ${pub}/${name} ${priv})
  file(CREATE_LINK ${dir}/${name}.h ${pub}/${name}/${name}.h SYMBOLIC)
  file(CREATE_LINK ${dir} ${priv}/${name} SYMBOLIC)
  set(MeterdPublicInclude_${name} ${pub} PARENT_SCOPE)
  set(MeterdPrivateInclude_${name} ${priv} PARENT_SCOPE)
endfunction()

# meterd_module(<name> SOURCES a.c... [DEPS lib...] [PRIVATE_DEPS lib...])
# DEPS are what the public header exposes (other meterd modules, mostly);
# third-party libraries the header does not mention belong in PRIVATE_DEPS.
function(meterd_module name)
  cmake_parse_arguments(M "" "" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  set(tgt meterd_${name})
  meterd_module_includes(${name} ${CMAKE_CURRENT_SOURCE_DIR})
  add_library(${tgt} STATIC ${M_SOURCES})
  target_include_directories(${tgt} PUBLIC ${MeterdPublicInclude_${name}}
                             PRIVATE ${MeterdPrivateInclude_${name}})
  target_link_libraries(${tgt} PUBLIC ${M_DEPS} PRIVATE ${M_PRIVATE_DEPS})
  add_library(${tgt}_internal INTERFACE)
  target_include_directories(${tgt}_internal INTERFACE ${MeterdPrivateInclude_${name}})
  target_link_libraries(${tgt}_internal INTERFACE ${tgt} ${M_PRIVATE_DEPS})
endfunction()

# A program made of one module's folder (cli/): sees its own headers only.
function(meterd_program_includes target name)
  meterd_module_includes(${name} ${CMAKE_CURRENT_SOURCE_DIR})
  target_include_directories(${target} PRIVATE ${MeterdPrivateInclude_${name}})
endfunction()
