# The Python binding (bindings/python) with pytest, against this tree's
# libtether_parent.so and tether-runner. Debian: python3-pytest; the system
# interpreter is used because that is where Debian installs pytest.
#
# Under TETHER_SANITIZE the library is ASan+UBSan-built: an unsanitized
# python can load it only with the sanitizer runtimes preloaded (they must
# come first in the process), so LD_PRELOAD names gcc's libasan/libubsan.
# Leak detection is off there: the interpreter itself holds memory at exit
# that LeakSanitizer would report; the C library's own leaks are checked by
# test_parent and the valgrind stage. ASan's quarantine (256 MiB of freed
# memory held back) is cut to 16 MiB: with every Python allocation going
# through ASan it would otherwise dominate the RSS that the backpressure
# test bounds.
# tether_parent_shared is defined later (cmake/install.cmake) for every
# non-Windows build that has tether_parent.
if(WIN32 OR NOT TARGET tether_parent)
  return()
endif()
find_program(TETHER_PYTHON3 NAMES python3 PATHS /usr/bin NO_DEFAULT_PATH)
if(NOT TETHER_PYTHON3)
  find_program(TETHER_PYTHON3 python3)
endif()
execute_process(COMMAND ${TETHER_PYTHON3} -c "import pytest"
                RESULT_VARIABLE tether_no_pytest OUTPUT_QUIET ERROR_QUIET)
if(tether_no_pytest)
  message(STATUS "python: pytest not found for ${TETHER_PYTHON3} (Debian: python3-pytest); test_python is not registered")
  return()
endif()

set(tether_py_env
  TETHER_LIBRARY=$<TARGET_FILE:tether_parent_shared>
  TETHER_RUNNER=$<TARGET_FILE:tether-runner>
  PYTHONDONTWRITEBYTECODE=1)
if(TETHER_SANITIZE)
  set(tether_py_preload "")
  foreach(rt libasan.so libubsan.so)
    execute_process(COMMAND ${CMAKE_C_COMPILER} -print-file-name=${rt}
                    OUTPUT_VARIABLE rt_path OUTPUT_STRIP_TRAILING_WHITESPACE)
    if(NOT IS_ABSOLUTE "${rt_path}" OR NOT EXISTS "${rt_path}")
      message(FATAL_ERROR "python: TETHER_SANITIZE needs ${rt} for LD_PRELOAD; "
                          "${CMAKE_C_COMPILER} -print-file-name gave '${rt_path}'")
    endif()
    string(APPEND tether_py_preload " ${rt_path}")
  endforeach()
  string(STRIP "${tether_py_preload}" tether_py_preload)
  list(APPEND tether_py_env "LD_PRELOAD=${tether_py_preload}"
       ASAN_OPTIONS=detect_leaks=0:quarantine_size_mb=16:abort_on_error=1
       UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1)
endif()

add_test(NAME test_python
  COMMAND ${CMAKE_COMMAND} -E env ${tether_py_env}
          ${TETHER_PYTHON3} -m pytest -q -p no:cacheprovider
          ${PROJECT_SOURCE_DIR}/bindings/python/tests
  WORKING_DIRECTORY ${PROJECT_BINARY_DIR})
set_tests_properties(test_python PROPERTIES TIMEOUT 900)
# The library and runner must be built before the test runs; they are part
# of `all`, which is what the README's test command builds.
