# Finds cuDNN and defines the interface target plumb_cudnn.
# Looked for in: CUDNN_ROOT (cache or environment), the CUDA toolkit, and the pip package
# nvidia-cudnn-cu13/cu12 inside the python3 on PATH (how the GPU machines and many clusters ship it).
set(_plumb_cudnn_hints "")
if(DEFINED CUDNN_ROOT)
  list(APPEND _plumb_cudnn_hints ${CUDNN_ROOT})
endif()
if(DEFINED ENV{CUDNN_ROOT})
  list(APPEND _plumb_cudnn_hints $ENV{CUDNN_ROOT})
endif()
list(APPEND _plumb_cudnn_hints ${CUDAToolkit_LIBRARY_ROOT} ${CUDAToolkit_TARGET_DIR})
find_program(_plumb_python3 python3)
if(_plumb_python3)
  execute_process(
    COMMAND ${_plumb_python3} -c "import nvidia.cudnn, os; print(os.path.dirname(nvidia.cudnn.__file__))"
    OUTPUT_VARIABLE _plumb_pip_cudnn OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE _rc)
  if(_rc EQUAL 0 AND _plumb_pip_cudnn)
    list(APPEND _plumb_cudnn_hints ${_plumb_pip_cudnn})
  endif()
endif()
find_path(CUDNN_INCLUDE_DIR cudnn.h HINTS ${_plumb_cudnn_hints} ${CUDAToolkit_INCLUDE_DIRS}
          PATH_SUFFIXES include)
find_library(CUDNN_LIBRARY NAMES cudnn libcudnn.so.9 HINTS ${_plumb_cudnn_hints} ${CUDAToolkit_LIBRARY_DIR}
             PATH_SUFFIXES lib lib64)
if(NOT CUDNN_INCLUDE_DIR OR NOT CUDNN_LIBRARY)
  message(FATAL_ERROR "plumb: CUDA found but cuDNN was not (looked in: ${_plumb_cudnn_hints}). "
                      "Set -DCUDNN_ROOT=<dir with include/ and lib/>, or build CPU-only with -DPLUMB_CUDA=OFF")
endif()
add_library(plumb_cudnn INTERFACE)
target_include_directories(plumb_cudnn INTERFACE ${CUDNN_INCLUDE_DIR})
target_link_libraries(plumb_cudnn INTERFACE ${CUDNN_LIBRARY})
message(STATUS "plumb: cuDNN ${CUDNN_LIBRARY}")
