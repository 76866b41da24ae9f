# Containment and per-session resource limits, end to end through tether-run
# and tether-runner (issue 20; PROTOCOL.md §5.3 limits and §9 orphans).
if(CMAKE_SYSTEM_NAME STREQUAL "Linux")
  add_test(NAME test_session_limits
    COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/test_session_limits.sh
            $<TARGET_FILE:tether-run> $<TARGET_FILE:tether-runner>)
  set_tests_properties(test_session_limits PROPERTIES LABELS limits TIMEOUT 300)
endif()
if(NOT WIN32)
  tether_add_test(test_session_limits_api SOURCES test_session_limits.c LIBS tether_parent
                  TIMEOUT 300)
  target_compile_definitions(test_session_limits_api PRIVATE
    TETHER_RUNNER_PATH="$<TARGET_FILE:tether-runner>")
  add_dependencies(test_session_limits_api tether-runner)
  set_tests_properties(test_session_limits_api PROPERTIES LABELS limits)
endif()
