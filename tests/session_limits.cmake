# Containment and per-session resource limits, end to end through tether-run
# and tether-runner (issue 20; PROTOCOL.md §5.3 limits and §9 orphans).
if(CMAKE_SYSTEM_NAME STREQUAL "Linux")
  add_test(NAME test_session_limits
    COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/test_session_limits.sh
            $<TARGET_FILE:tether-run> $<TARGET_FILE:tether-runner>)
  set_tests_properties(test_session_limits PROPERTIES LABELS limits TIMEOUT 300)
endif()
