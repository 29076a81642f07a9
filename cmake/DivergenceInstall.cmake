# Install rules: headers, the exported target divergence::divergence, and a relocatable package
# config so that `find_package(divergence CONFIG)` works from any prefix.
if(DIVERGENCE_EIGEN_FETCHED)
  # The exported target names Eigen3::Eigen, which a consumer must find on its own system;
  # a fetched, uninstalled Eigen would leave the installed package unusable.
  message(WARNING "divergence: Eigen was fetched, not found on the system; install rules are disabled.")
  return()
endif()

include(CMakePackageConfigHelpers)

# Header-only and architecture-independent: the package lives under share/.
set(DIVERGENCE_CMAKE_DIR "${CMAKE_INSTALL_DATADIR}/cmake/divergence")

install(DIRECTORY "${PROJECT_SOURCE_DIR}/include/" DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}"
        FILES_MATCHING PATTERN "*.hpp")
install(TARGETS divergence EXPORT divergenceTargets)
install(EXPORT divergenceTargets NAMESPACE divergence:: FILE divergenceTargets.cmake
        DESTINATION "${DIVERGENCE_CMAKE_DIR}")
# divergence::mpi, when MPI was found: its own export set, loaded by the config only where the
# consumer finds MPI too (the component `mpi`).
if(TARGET divergence_mpi)
  install(TARGETS divergence_mpi EXPORT divergenceMpiTargets)
  install(EXPORT divergenceMpiTargets NAMESPACE divergence:: FILE divergenceMpiTargets.cmake
          DESTINATION "${DIVERGENCE_CMAKE_DIR}")
endif()

configure_package_config_file("${PROJECT_SOURCE_DIR}/cmake/divergenceConfig.cmake.in"
                              "${PROJECT_BINARY_DIR}/divergenceConfig.cmake"
                              INSTALL_DESTINATION "${DIVERGENCE_CMAKE_DIR}" NO_SET_AND_CHECK_MACRO)
# 0.x: a minor version may break the API, so only the same minor version is compatible.
write_basic_package_version_file("${PROJECT_BINARY_DIR}/divergenceConfigVersion.cmake"
                                 VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion ARCH_INDEPENDENT)
install(FILES "${PROJECT_BINARY_DIR}/divergenceConfig.cmake" "${PROJECT_BINARY_DIR}/divergenceConfigVersion.cmake"
        DESTINATION "${DIVERGENCE_CMAKE_DIR}")

foreach(doc LICENSE README.md)
  if(EXISTS "${PROJECT_SOURCE_DIR}/${doc}")
    install(FILES "${PROJECT_SOURCE_DIR}/${doc}" DESTINATION "${CMAKE_INSTALL_DOCDIR}")
  endif()
endforeach()
