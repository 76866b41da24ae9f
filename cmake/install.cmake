# What `cmake --install` puts under the prefix (included at the end of the
# root CMakeLists.txt, once every library target exists):
#
#   include/tether/*.h                   the public headers
#   lib/libtether_parent.so.0.2.0 (+ .so.0.2, .so)
#   lib/libtether_runner.so.0.2.0 (+ .so.0.2, .so)
#   bin/tether-run, bin/tether-runner
#   lib/cmake/tether/                    find_package(tether): tether::parent,
#                                        tether::runner
#   lib/pkgconfig/tether-parent.pc, tether-runner.pc
#
# The shared libraries are the in-tree static libraries linked whole into
# one .so each (they are compiled PIC, CMAKE_POSITION_INDEPENDENT_CODE). The
# tree is compiled with hidden visibility, so a .so exports exactly the
# TETHER_EXTERN functions of the public headers; the codec runtimes are
# private: protobuf-c as a shared dependency of libtether_parent, nanopb
# linked in and kept out of libtether_runner's exports. The executables
# stay statically linked against the libraries (they need no library path).
include(CMakePackageConfigHelpers)

set(TETHER_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/tether)
# The soname changes whenever the ABI may: with every minor release while
# the major version is 0 (libtether_parent.so.0.2), with the major after.
if(PROJECT_VERSION_MAJOR EQUAL 0)
  set(TETHER_SOVERSION ${PROJECT_VERSION_MAJOR}.${PROJECT_VERSION_MINOR})
else()
  set(TETHER_SOVERSION ${PROJECT_VERSION_MAJOR})
endif()
set(TETHER_PUBLIC_HEADERS
  parent.h runner.h error.h limits.h wire.h os.h os_posix.h os_win.h export.h)
list(TRANSFORM TETHER_PUBLIC_HEADERS PREPEND ${PROJECT_SOURCE_DIR}/include/tether/)
list(APPEND TETHER_PUBLIC_HEADERS ${PROJECT_BINARY_DIR}/include/tether/version.h)
install(FILES ${TETHER_PUBLIC_HEADERS}
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/tether)

foreach(exe tether-run tether-runner)
  if(TARGET ${exe})
    install(TARGETS ${exe} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
  endif()
endforeach()

if(WIN32)
  # The shared libraries (DLLs with TETHER_SHARED), the package and the
  # pkg-config files come with the Windows port; headers only until then.
  return()
endif()

# tether_add_shared(<name> <output name> <static libs...>): SHARED target
# <name>, file lib<output name>.so, holding every object of the static
# libraries given; what they need beyond that (the other static libraries,
# the codec runtimes) is linked normally after them, as far as needed.
function(tether_add_shared name output_name)
  # A target needs a source; this one defines nothing.
  set(stub ${CMAKE_CURRENT_BINARY_DIR}/${name}_stub.c)
  file(GENERATE OUTPUT ${stub} CONTENT
       "/* Generated: ${name} is made of static libraries only. */\ntypedef int tether__${name}_stub;\n")
  add_library(${name} SHARED ${stub})
  target_link_libraries(${name} PRIVATE
    -Wl,--whole-archive ${ARGN} -Wl,--no-whole-archive)
  set_target_properties(${name} PROPERTIES
    OUTPUT_NAME ${output_name}
    VERSION ${PROJECT_VERSION}
    SOVERSION ${TETHER_SOVERSION}
    LIBRARY_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/lib)
  # Every undefined symbol must come from a listed dependency (catches a
  # missing private link); the sanitizer runtimes resolve at load time.
  if(NOT TETHER_SANITIZE AND NOT TETHER_FUZZ)
    target_link_options(${name} PRIVATE -Wl,--no-undefined)
  endif()
  target_include_directories(${name} INTERFACE
    $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>
    $<BUILD_INTERFACE:${PROJECT_BINARY_DIR}/include>
    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
endfunction()

if(TARGET tether_parent)
  tether_add_shared(tether_parent_shared tether_parent
                    tether_parent tether_transport)
  set_target_properties(tether_parent_shared PROPERTIES EXPORT_NAME parent)
  add_library(tether::parent ALIAS tether_parent_shared)
  list(APPEND tether_shared_targets tether_parent_shared)
endif()
if(TARGET tether_runner)
  tether_add_shared(tether_runner_shared tether_runner
                    tether_runner tether_transport)
  # nanopb's static runtime has default visibility: keep pb_* private.
  target_link_options(tether_runner_shared PRIVATE
                      -Wl,--exclude-libs,libprotobuf-nanopb.a)
  set_target_properties(tether_runner_shared PROPERTIES EXPORT_NAME runner)
  add_library(tether::runner ALIAS tether_runner_shared)
  list(APPEND tether_shared_targets tether_runner_shared)
endif()
if(NOT tether_shared_targets)
  return()
endif()

install(TARGETS ${tether_shared_targets} EXPORT tetherTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(EXPORT tetherTargets NAMESPACE tether::
        DESTINATION ${TETHER_CMAKE_DIR})

# find_package(tether [0.1] [COMPONENTS parent runner]). While the major
# version is 0, a minor release may break the API: only 0.1.x satisfies 0.1.
configure_package_config_file(
  ${PROJECT_SOURCE_DIR}/cmake/tetherConfig.cmake.in
  ${PROJECT_BINARY_DIR}/cmake/tetherConfig.cmake
  INSTALL_DESTINATION ${TETHER_CMAKE_DIR})
write_basic_package_version_file(
  ${PROJECT_BINARY_DIR}/cmake/tetherConfigVersion.cmake
  VERSION ${PROJECT_VERSION}
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/cmake/tetherConfig.cmake
              ${PROJECT_BINARY_DIR}/cmake/tetherConfigVersion.cmake
        DESTINATION ${TETHER_CMAKE_DIR})

# pkg-config files, relocatable: prefix is found from the .pc file's own
# place (${pcfiledir}), so `cmake --install --prefix P` works for any P.
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
  set(TETHER_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
  set(TETHER_PC_LIBDIR "${CMAKE_INSTALL_LIBDIR}")
else()
  file(RELATIVE_PATH tether_pc_up /p/${CMAKE_INSTALL_LIBDIR}/pkgconfig /p)
  string(REGEX REPLACE "/$" "" tether_pc_up "${tether_pc_up}")
  set(TETHER_PC_PREFIX "\${pcfiledir}/${tether_pc_up}")
  set(TETHER_PC_LIBDIR "\${prefix}/${CMAKE_INSTALL_LIBDIR}")
endif()
if(IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
  set(TETHER_PC_INCLUDEDIR "${CMAKE_INSTALL_INCLUDEDIR}")
else()
  set(TETHER_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
endif()
foreach(lib parent runner)
  if(TARGET tether_${lib}_shared)
    configure_file(${PROJECT_SOURCE_DIR}/cmake/tether-${lib}.pc.in
                   ${PROJECT_BINARY_DIR}/cmake/tether-${lib}.pc @ONLY)
    install(FILES ${PROJECT_BINARY_DIR}/cmake/tether-${lib}.pc
            DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
  endif()
endforeach()
