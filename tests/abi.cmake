# The growable-struct ABI (include/tether/parent.h, "ABI"): a program built
# against the 0.2 headers (tests/abi/0.2/) runs against today's libraries.
tether_add_test(test_abi SOURCES test_abi.c LIBS tether_parent tether_runner)
target_include_directories(test_abi BEFORE PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/abi/0.2)
target_compile_definitions(test_abi PRIVATE
  TETHER_RUNNER_PATH="$<TARGET_FILE:tether-runner>")
add_dependencies(test_abi tether-runner)
