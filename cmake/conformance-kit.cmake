# The conformance kit (conformance/) runs on the build machine: Debian's
# /usr/bin/python3 with python3-protobuf, and protoc. Sets
# TETHER_CONF_KIT (the command) when they are there, for tests/conformance.cmake
# and tests/win.cmake.
set(TETHER_CONF_PYTHON /usr/bin/python3)
find_program(TETHER_CONF_PROTOC protoc)
unset(TETHER_CONF_KIT)
if(EXISTS ${TETHER_CONF_PYTHON} AND TETHER_CONF_PROTOC)
  execute_process(COMMAND ${TETHER_CONF_PYTHON} -c "import google.protobuf"
                  RESULT_VARIABLE tether_conf_pb_missing OUTPUT_QUIET ERROR_QUIET)
  if(NOT tether_conf_pb_missing)
    set(TETHER_CONF_KIT ${TETHER_CONF_PYTHON} ${PROJECT_SOURCE_DIR}/conformance/tether_conformance.py)
  endif()
endif()
if(NOT TETHER_CONF_KIT)
  message(STATUS "conformance tests disabled: need /usr/bin/python3 with python3-protobuf and protoc")
endif()
