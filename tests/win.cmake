# Windows tests (mingw-w64; under Wine when cross-compiling, see
# docs/WINDOWS.md). tests/CMakeLists.txt includes only this file on
# Windows, and this file does nothing elsewhere.
if(NOT WIN32)
  return()
endif()

# The portable tests, as their own areas define them on POSIX.
foreach(t error framing)
  tether_add_test(test_${t} SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_${t}.c
                  LIBS tether_transport)
endforeach()
tether_add_test(test_codec SOURCES test_codec.c ${PROJECT_SOURCE_DIR}/fuzz/msg_compare.c
  LIBS tether_codec_pbc tether_codec_nanopb tether_gen_pbc)
tether_add_test(test_codec_hello SOURCES test_hello.c LIBS tether_msg)

# Named pipes, inherited handle pairs, the channel over both.
tether_add_test(test_npipe_win SOURCES test_npipe_win.c LIBS tether_transport)

# The runner and parent end to end (tether-runner.exe, tether-run.exe next
# to the test binary in bin/), ConPTY as far as Wine goes.
tether_add_test(test_parent_win SOURCES test_parent_win.c LIBS tether_parent shell32)
add_dependencies(test_parent_win tether-runner tether-run)

set(tether_win_tests test_error test_framing test_codec test_codec_hello test_npipe_win
    test_parent_win)

# The conformance kit (a parent written in Python, on the build machine)
# against tether-runner.exe under Wine: the same checks as against the
# POSIX runner (tests/conformance.cmake), with Windows-shaped values
# (docs/PROTOCOL.md 6.6) and the kit's child program built for Windows.
if(CMAKE_CROSSCOMPILING_EMULATOR)
  include(${PROJECT_SOURCE_DIR}/cmake/conformance-kit.cmake)
  if(TETHER_CONF_KIT)
    add_test(NAME conformance_win_runner
      COMMAND ${TETHER_CONF_KIT} --platform windows --timeout-scale 3
              --child $<TARGET_FILE:tether-conf-child>
              -- ${CMAKE_CROSSCOMPILING_EMULATOR} $<TARGET_FILE:tether-runner> --stdio)
    set_tests_properties(conformance_win_runner PROPERTIES TIMEOUT 900)
    list(APPEND tether_win_tests conformance_win_runner)
  endif()
endif()

# Under Wine: one persistent wineserver for the whole run (started by a
# setup fixture, stopped by a cleanup one), or every process start pays for
# a server of its own; and no Wine debug chatter in the test output.
if(CMAKE_CROSSCOMPILING_EMULATOR)
  get_filename_component(_wine_dir ${CMAKE_CROSSCOMPILING_EMULATOR} DIRECTORY)
  find_program(TETHER_WINESERVER NAMES wineserver wineserver64
               HINTS ${_wine_dir} /usr/lib/wine PATHS /usr/lib/wine)
  if(TETHER_WINESERVER)
    add_test(NAME wineserver_start
             COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/wineserver.sh start ${TETHER_WINESERVER}
                     ${CMAKE_CROSSCOMPILING_EMULATOR})
    add_test(NAME wineserver_stop
             COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/wineserver.sh stop ${TETHER_WINESERVER})
    set_tests_properties(wineserver_start PROPERTIES FIXTURES_SETUP wine
                         ENVIRONMENT WINEDEBUG=-all TIMEOUT 120)
    set_tests_properties(wineserver_stop PROPERTIES FIXTURES_CLEANUP wine
                         ENVIRONMENT WINEDEBUG=-all TIMEOUT 60)
    set_tests_properties(${tether_win_tests} PROPERTIES FIXTURES_REQUIRED wine)
  endif()
  set_tests_properties(${tether_win_tests} PROPERTIES ENVIRONMENT WINEDEBUG=-all)
endif()
