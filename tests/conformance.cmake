# Conformance kit (conformance/): a Python implementation of the parent side
# that checks runners against docs/PROTOCOL.md, and of scripted runners that
# check parents. Needs Debian's python3 with python3-protobuf, and protoc.
set(TETHER_CONF_PYTHON /usr/bin/python3)
find_program(TETHER_CONF_PROTOC protoc)
if(EXISTS ${TETHER_CONF_PYTHON} AND TETHER_CONF_PROTOC)
  execute_process(COMMAND ${TETHER_CONF_PYTHON} -c "import google.protobuf"
                  RESULT_VARIABLE tether_conf_pb_missing OUTPUT_QUIET ERROR_QUIET)
endif()
if(NOT EXISTS ${TETHER_CONF_PYTHON} OR NOT TETHER_CONF_PROTOC OR tether_conf_pb_missing)
  message(STATUS "conformance tests disabled: need /usr/bin/python3 with python3-protobuf and protoc")
  return()
endif()

set(tether_conf_kit ${TETHER_CONF_PYTHON} ${PROJECT_SOURCE_DIR}/conformance/tether_conformance.py)

# Known deviations of tether-runner from docs/PROTOCOL.md, reported as xfail
# (a fixed one turns into XPASS and fails the test: then drop it here).
# Comma-separated check names; none at the moment.
set(TETHER_CONF_C_RUNNER_XFAIL "")

add_test(NAME conformance_c_runner
  COMMAND ${tether_conf_kit} --xfail "${TETHER_CONF_C_RUNNER_XFAIL}"
          -- $<TARGET_FILE:tether-runner> --stdio)
add_test(NAME conformance_python_runner
  COMMAND ${tether_conf_kit}
          -- ${TETHER_CONF_PYTHON} ${PROJECT_SOURCE_DIR}/examples/python-runner/runner.py --stdio)
add_test(NAME conformance_broken_runner
  COMMAND ${TETHER_CONF_PYTHON} ${PROJECT_SOURCE_DIR}/conformance/test_broken_runner.py)
set(tether_conf_tests conformance_c_runner conformance_python_runner conformance_broken_runner)
if(TARGET tether-run)
  add_test(NAME conformance_parent_tether_run
    COMMAND ${tether_conf_kit} --parent -- $<TARGET_FILE:tether-run>)
  list(APPEND tether_conf_tests conformance_parent_tether_run)
endif()
set_tests_properties(${tether_conf_tests} PROPERTIES TIMEOUT 600)
