# The generator needs Python 3 with Jinja2. A pyenv or venv python first on PATH usually cannot
# see Debian's python3-jinja2, so prefer the system interpreter the way a fresh Debian box has it.
set(VN_PYTHON "" CACHE FILEPATH "Python 3 interpreter with Jinja2 for the code generator")
if(NOT VN_PYTHON)
  foreach(candidate /usr/bin/python3 python3)
    find_program(_vn_py NAMES ${candidate} NO_CACHE)
    if(_vn_py)
      execute_process(COMMAND ${_vn_py} -c "import jinja2" RESULT_VARIABLE _vn_rc
                      OUTPUT_QUIET ERROR_QUIET)
      if(_vn_rc EQUAL 0)
        set(VN_PYTHON ${_vn_py} CACHE FILEPATH "" FORCE)
        break()
      endif()
    endif()
    unset(_vn_py)
  endforeach()
endif()
if(NOT VN_PYTHON)
  message(FATAL_ERROR "No Python 3 with Jinja2 found. Install it with "
                      "'apt-get install python3-jinja2' (Debian's /usr/bin/python3 is used).")
endif()
message(STATUS "Code generator interpreter: ${VN_PYTHON}")
