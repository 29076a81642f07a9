// The main of the MPI tests: MPI around a Catch2 session. Every rank runs every test case, in the same
// order (the functions under test are collective); the checks use CHECK, never REQUIRE, so that a
// failure on one rank does not leave the others waiting in a collective.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <mpi.h>

int main(int argc, char* argv[])
{
    MPI_Init(&argc, &argv);
    Catch::Session session;
    Catch::StringMaker<double>::precision = 17;  // differences of a few ulp show
    const int parse = session.applyCommandLine(argc, argv);
    int failed = parse != 0 ? 1 : session.run();
    int any = 0;
    MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    MPI_Finalize();
    return any != 0 ? 1 : 0;
}
