# The man pages (docs/man/*.1, *.3, mdoc): mandoc's linter must find
# nothing at warning level or above (Debian: mandoc, in .ci/deps).
find_program(TETHER_MANDOC mandoc)
file(GLOB tether_man_pages CONFIGURE_DEPENDS
     ${PROJECT_SOURCE_DIR}/docs/man/*.1 ${PROJECT_SOURCE_DIR}/docs/man/*.3)
if(TETHER_MANDOC)
  add_test(NAME test_man COMMAND ${TETHER_MANDOC} -T lint -W warning ${tether_man_pages})
else()
  message(WARNING "mandoc not found (Debian: mandoc): test_man fails until it is installed")
  add_test(NAME test_man COMMAND sh -c "echo 'mandoc not found (Debian: mandoc)'; exit 1")
endif()
set_tests_properties(test_man PROPERTIES LABELS docs)
