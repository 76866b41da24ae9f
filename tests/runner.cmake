# The runner, driven as a real process by a minimal parent built from the
# channel and the protobuf-c codec (so the tests also cross-check codecs).
tether_add_test(test_runner
  SOURCES test_runner.c
  LIBS tether_transport tether_codec_pbc
  TIMEOUT 600)
target_compile_definitions(test_runner PRIVATE
  TETHER_RUNNER_PATH="$<TARGET_FILE:tether-runner>")
add_dependencies(test_runner tether-runner)
