# Conformance kit (conformance/): a Python implementation of the parent side
# that checks runners against docs/PROTOCOL.md, and of scripted runners that
# check parents. Needs Debian's python3 with python3-protobuf, and protoc.
include(${PROJECT_SOURCE_DIR}/cmake/conformance-kit.cmake)
if(NOT TETHER_CONF_KIT)
  return()
endif()
set(tether_conf_kit ${TETHER_CONF_KIT})

# Known deviations of tether-runner from docs/PROTOCOL.md, reported as xfail
# (a fixed one turns into XPASS and fails the test: then drop it here).
# Comma-separated check names; none at the moment.
set(TETHER_CONF_C_RUNNER_XFAIL "")

add_test(NAME conformance_c_runner
  COMMAND ${tether_conf_kit} --xfail "${TETHER_CONF_C_RUNNER_XFAIL}"
          -- $<TARGET_FILE:tether-runner> --stdio)
# The same checks with the kit's portable child program, as on Windows
# (tests/win.cmake): both forms of each check pass on both platforms.
add_test(NAME conformance_c_runner_child
  COMMAND ${tether_conf_kit} --child $<TARGET_FILE:tether-conf-child>
          -- $<TARGET_FILE:tether-runner> --stdio)
add_test(NAME conformance_python_runner
  COMMAND ${tether_conf_kit}
          -- ${TETHER_CONF_PYTHON} ${PROJECT_SOURCE_DIR}/examples/python-runner/runner.py --stdio)
add_test(NAME conformance_broken_runner
  COMMAND ${TETHER_CONF_PYTHON} ${PROJECT_SOURCE_DIR}/conformance/test_broken_runner.py)
set(tether_conf_tests conformance_c_runner conformance_c_runner_child conformance_python_runner
    conformance_broken_runner)
if(TARGET tether-run)
  add_test(NAME conformance_parent_tether_run
    COMMAND ${tether_conf_kit} --parent -- $<TARGET_FILE:tether-run>)
  list(APPEND tether_conf_tests conformance_parent_tether_run)
endif()
set_tests_properties(${tether_conf_tests} PROPERTIES TIMEOUT 600)
