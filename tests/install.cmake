# The installed package, end to end (tests/test_install.sh): install this
# build into a temporary prefix, build examples/ against it with
# find_package(tether) and capture.c with pkg-config, and run them from
# there. The examples' in-tree run is test_examples (examples/CMakeLists.txt).
# (tests/ is configured before cmake/install.cmake defines the shared
# targets; they exist wherever tether_parent does, except on Windows.)
if(WIN32 OR NOT TARGET tether_parent OR NOT TARGET tether-runner)
  return()
endif()

# A sanitized tree has sanitized libraries: whatever links them needs the
# same runtimes.
set(tether_install_san "")
if(TETHER_SANITIZE OR TETHER_FUZZ)
  set(tether_install_san "-fsanitize=address,undefined -fno-omit-frame-pointer")
endif()
add_test(NAME test_install
  COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/test_install.sh
          ${PROJECT_BINARY_DIR} ${PROJECT_SOURCE_DIR} ${CMAKE_INSTALL_LIBDIR}
          ${CMAKE_COMMAND} ${CMAKE_C_COMPILER}
          "config=$<CONFIG>" "san=${tether_install_san}")
set_tests_properties(test_install PROPERTIES TIMEOUT 300)
