# libtether_parent and tether-run, against the real tether-runner and a
# hostile fake runner (tests/parent_fake.h).
tether_add_test(test_parent SOURCES test_parent.c LIBS tether_parent TIMEOUT 600)
target_compile_definitions(test_parent PRIVATE
  TETHER_RUNNER_PATH="$<TARGET_FILE:tether-runner>")
add_dependencies(test_parent tether-runner)

# tether-run end to end (exit statuses, streaming, signals, 64 MiB via cat).
add_test(NAME test_tether_run
  COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/test_tether_run.sh
          $<TARGET_FILE:tether-run> $<TARGET_FILE:tether-runner>)
set_tests_properties(test_tether_run PROPERTIES TIMEOUT 600)
