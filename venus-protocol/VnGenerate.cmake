# vn_generate(): runs tools/vn-codegen at build time. The generator itself reports which files it
# writes and reads (--print-outputs / --print-inputs), so this list is never kept twice.
set(VN_CODEGEN_DIR ${PROJECT_SOURCE_DIR}/tools/vn-codegen)
set(VN_GENERATED_DIR ${PROJECT_BINARY_DIR}/generated/vn CACHE INTERNAL "Where vn-codegen writes")

function(vn_generate)
  execute_process(COMMAND ${VN_PYTHON} -m vn_codegen --print-outputs
                  WORKING_DIRECTORY ${VN_CODEGEN_DIR} OUTPUT_VARIABLE outs
                  OUTPUT_STRIP_TRAILING_WHITESPACE COMMAND_ERROR_IS_FATAL ANY)
  execute_process(COMMAND ${VN_PYTHON} -m vn_codegen --print-inputs
                  WORKING_DIRECTORY ${VN_CODEGEN_DIR} OUTPUT_VARIABLE ins
                  OUTPUT_STRIP_TRAILING_WHITESPACE COMMAND_ERROR_IS_FATAL ANY)
  list(TRANSFORM outs PREPEND ${VN_GENERATED_DIR}/)
  set(protocol_toml ${PROJECT_SOURCE_DIR}/venus-protocol/venus-protocol.toml)
  add_custom_command(
    OUTPUT ${outs}
    COMMAND ${VN_PYTHON} -m vn_codegen --vk-xml ${VN_VK_XML} --protocol ${protocol_toml}
            --out ${VN_GENERATED_DIR}
    WORKING_DIRECTORY ${VN_CODEGEN_DIR}
    DEPENDS ${ins} ${VN_VK_XML} ${protocol_toml}
    COMMENT "Generating the Venus codec from ${VN_VK_XML}"
    VERBATIM)
  add_custom_target(vn_codegen DEPENDS ${outs})
  set(VN_GENERATED_FILES ${outs} PARENT_SCOPE)
endfunction()
