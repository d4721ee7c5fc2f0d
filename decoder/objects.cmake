# Typed object tables (guest object id -> host handle). Included from decoder/CMakeLists.txt after
# venus-protocol/ has defined vn_protocol_runtime. Kept apart from the generated dispatch so the
# unit tests can link the tables without running the code generator.
add_library(vn_decoder_objects STATIC ${CMAKE_CURRENT_LIST_DIR}/src/object_table.cpp)
target_include_directories(vn_decoder_objects PUBLIC ${CMAKE_CURRENT_LIST_DIR}/include)
target_link_libraries(vn_decoder_objects
  PUBLIC vn_protocol_runtime Vulkan::Headers
  PRIVATE vn_warnings)
set_target_properties(vn_decoder_objects PROPERTIES POSITION_INDEPENDENT_CODE ON)
