# Permission profiles (sandbox/): resolution, the runner's decision,
# enforcement in a forked child, and a real tether-runner over the wire
# (test_sandbox.c); then the same as a user runs it, through tether-run and
# tether-runner (test_sandbox_smoke.sh). Tests that need Landlock or
# namespaces skip without them, except with CI=true, where a missing kernel
# feature fails them.
tether_add_test(test_sandbox SOURCES test_sandbox.c
  LIBS tether_sandbox tether_transport tether_codec_pbc)
target_compile_definitions(test_sandbox PRIVATE
  TETHER_RUNNER_PATH="$<TARGET_FILE:tether-runner>")
add_dependencies(test_sandbox tether-runner)
add_test(NAME test_sandbox_smoke
  COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/test_sandbox_smoke.sh
          $<TARGET_FILE:tether-run> $<TARGET_FILE:tether-runner>)
set_tests_properties(test_sandbox_smoke PROPERTIES TIMEOUT 300)
# The escape suite (issue 16): one attack per check, as the caller and, via
# setpriv, as uid 65534 without and with ambient capabilities (those two
# skip unless run as root).
foreach(as self nobody nobody-ambient)
  set(name test_sandbox_escape)
  if(NOT as STREQUAL "self")
    set(name test_sandbox_escape_${as})
  endif()
  add_test(NAME ${name}
    COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/test_sandbox_escape.sh
            $<TARGET_FILE:tether-run> $<TARGET_FILE:tether-runner> ${as})
  set_tests_properties(${name} PROPERTIES TIMEOUT 300)
endforeach()
# Fault injection: each child step failing must refuse the spawn (an
# LD_PRELOAD shim in tether-runner; Linux only).
if(CMAKE_SYSTEM_NAME STREQUAL "Linux")
  add_library(sandbox_faults_preload MODULE sandbox_faults_preload.c)
  target_link_libraries(sandbox_faults_preload PRIVATE ${CMAKE_DL_LIBS})
  # its syscall()/prctl() read six variadic words whatever the caller passed
  target_compile_options(sandbox_faults_preload PRIVATE -fno-sanitize=all)
  add_test(NAME test_sandbox_faults
    COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/test_sandbox_faults.sh
            $<TARGET_FILE:tether-run> $<TARGET_FILE:tether-runner>
            $<TARGET_FILE:sandbox_faults_preload>)
  set_tests_properties(test_sandbox_faults PROPERTIES TIMEOUT 300)
endif()
