# The ABI check (abigail-tools: abidw, abidiff). abi/libtether_parent.abi
# and abi/libtether_runner.abi are the committed baselines: the public
# functions and the types they use, as abidw reads them from a Debug (-g)
# build's shared libraries. Changes inside the opaque handles and internal
# types are not reported (abi/tether.abignore).
#
#   test_abi_check (ctest -L abi): abidiff baseline vs this build; fails on
#                  any ABI change, compatible or not, so every change is
#                  made on purpose.
#   abi-update:    rewrites the baselines from this build after an
#                  intended change (new functions, appended fields, a new
#                  soname):  cmake --build build --target abi-update
#                  then commit abi/.
if(WIN32 OR NOT TARGET tether_parent_shared)
  return()
endif()
find_program(TETHER_ABIDW abidw)
find_program(TETHER_ABIDIFF abidiff)
if(NOT TETHER_ABIDW OR NOT TETHER_ABIDIFF)
  message(STATUS "abigail-tools not found: no ABI check (Debian: abigail-tools)")
  return()
endif()

set(tether_abi_updates "")
foreach(lib parent runner)
  set(baseline ${PROJECT_SOURCE_DIR}/abi/libtether_${lib}.abi)
  list(APPEND tether_abi_updates
    COMMAND ${TETHER_ABIDW} --no-corpus-path --no-comp-dir-path --no-show-locs
            --out-file ${baseline} $<TARGET_FILE:tether_${lib}_shared>
    # The translation units' paths: relative to the source tree.
    COMMAND sed -i "s|${PROJECT_SOURCE_DIR}/||g" ${baseline})
  # The comparison needs the types: only in a build with debug info.
  if(TETHER_BUILD_TESTS AND CMAKE_BUILD_TYPE MATCHES "^(Debug|RelWithDebInfo)$")
    add_test(NAME test_abi_check_${lib}
      COMMAND ${TETHER_ABIDIFF}
              --suppressions ${PROJECT_SOURCE_DIR}/abi/tether.abignore
              ${baseline} $<TARGET_FILE:tether_${lib}_shared>)
    # abidiff exits non-zero on any change (4: ABI change, 8: incompatible).
    set_tests_properties(test_abi_check_${lib} PROPERTIES LABELS abi)
  endif()
endforeach()
add_custom_target(abi-update ${tether_abi_updates}
  DEPENDS tether_parent_shared tether_runner_shared
  COMMENT "Rewriting abi/*.abi from this build (commit them if the change is intended)"
  VERBATIM)
