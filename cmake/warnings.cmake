# tether's warning set, per target. Each flag is kept only if this C
# compiler accepts it (check_c_compiler_flag), so an older or different
# compiler builds without -Werror tripping on an unknown option.
# tether_apply_warnings(), called at the end of the root CMakeLists.txt,
# gives them to every compiled target of the tree except the generated
# codecs (gen/) and the codec runtimes built from source on Windows
# (cmake/win-deps.cmake), which are not held to this set.
include(CheckCCompilerFlag)

set(TETHER_WARNING_FLAGS "")
foreach(flag -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes
             -Wmissing-prototypes -Wno-unused-parameter)
  string(MAKE_C_IDENTIFIER "TETHER_CC_HAS${flag}" var)
  check_c_compiler_flag(${flag} ${var})
  if(${var})
    list(APPEND TETHER_WARNING_FLAGS ${flag})
  endif()
endforeach()
if(TETHER_WERROR)
  check_c_compiler_flag(-Werror TETHER_CC_HAS_WERROR)
  if(TETHER_CC_HAS_WERROR)
    list(APPEND TETHER_WARNING_FLAGS -Werror)
  endif()
endif()

function(tether__warnings_in dir)
  get_property(targets DIRECTORY ${dir} PROPERTY BUILDSYSTEM_TARGETS)
  foreach(t ${targets})
    get_target_property(type ${t} TYPE)
    if(type MATCHES "^(STATIC_LIBRARY|SHARED_LIBRARY|OBJECT_LIBRARY|MODULE_LIBRARY|EXECUTABLE)$"
       AND NOT t MATCHES "^tether_(gen|rt)_")
      target_compile_options(${t} PRIVATE ${TETHER_WARNING_FLAGS})
    endif()
  endforeach()
  get_property(subdirs DIRECTORY ${dir} PROPERTY SUBDIRECTORIES)
  foreach(d ${subdirs})
    tether__warnings_in(${d})
  endforeach()
endfunction()

function(tether_apply_warnings)
  tether__warnings_in(${PROJECT_SOURCE_DIR})
endfunction()
