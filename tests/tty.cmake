# tether-run -t from a real terminal (tests/test_tty_tmux.sh): tmux runs a
# shell and the script types into it and reads the screen. Skipped (77)
# without tmux, except with CI=true (.ci/deps installs it).
add_test(NAME test_tty_tmux
  COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/test_tty_tmux.sh
          $<TARGET_FILE:tether-run> $<TARGET_FILE:tether-runner>)
set_tests_properties(test_tty_tmux PROPERTIES TIMEOUT 600 SKIP_RETURN_CODE 77)
