# Warnings, sanitizers and the helpers that turn directories into targets.

add_library(sluice_warnings INTERFACE)
target_compile_options(sluice_warnings INTERFACE -Wall -Wextra -Werror -Wno-missing-field-initializers)
# GCC 12's -O3 (CMake's Release) reports -Wrestrict inside libstdc++'s own std::string code
# (GCC bug 105329, fixed in GCC 13): a false positive that made every Release build, the
# Dockerfile's included, fail under -Werror while -O2 builds passed. Off for GCC 12 only, so
# the build does not depend on the optimisation level.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_GREATER_EQUAL 12
   AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
  target_compile_options(sluice_warnings INTERFACE -Wno-restrict)
endif()

if(SLUICE_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()

# sluice_module(<name> [DEPS <targets>...])
# One static library per common/ module, sources globbed from common/src/<name>/.
# Dependencies point down only; the umbrella target sluice::sluice links them all.
function(sluice_module name)
  cmake_parse_arguments(ARG "" "" "DEPS" ${ARGN})
  file(GLOB_RECURSE srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/src/${name}/*.cpp)
  if(NOT srcs)
    return()
  endif()
  add_library(sluice_${name} STATIC ${srcs})
  add_library(sluice::${name} ALIAS sluice_${name})
  target_include_directories(sluice_${name} PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/include)
  target_link_libraries(sluice_${name} PUBLIC ${ARG_DEPS} PRIVATE sluice_warnings)
  set_property(GLOBAL APPEND PROPERTY SLUICE_MODULES sluice_${name})
endfunction()

# sluice_service(<dir> <binary>)
# services/<dir>/main.cpp becomes the binary; every other .cpp there is the stage library
# sluice_svc_<dir> (pure logic, called directly by unit tests).
function(sluice_service dir binary)
  set(base ${CMAKE_CURRENT_SOURCE_DIR}/${dir})
  if(NOT EXISTS ${base}/main.cpp)
    return()
  endif()
  file(GLOB_RECURSE srcs CONFIGURE_DEPENDS ${base}/*.cpp)
  list(REMOVE_ITEM srcs ${base}/main.cpp)
  string(REPLACE "-" "_" lib ${dir})
  set(lib sluice_svc_${lib})
  if(srcs)
    add_library(${lib} STATIC ${srcs})
    target_include_directories(${lib} PUBLIC ${base})
    target_link_libraries(${lib} PUBLIC sluice::sluice PRIVATE sluice_warnings)
  else()
    add_library(${lib} INTERFACE)
    target_link_libraries(${lib} INTERFACE sluice::sluice)
  endif()
  add_executable(${binary} ${base}/main.cpp)
  target_link_libraries(${binary} PRIVATE ${lib} sluice_warnings)
  set_target_properties(${binary} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)
endfunction()
