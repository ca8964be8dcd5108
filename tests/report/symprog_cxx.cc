// The symbolizer's C++ test program: a member function of a class template
// in a namespace, whose demangled name sym_test expects in full.
#include "symprog.h"

namespace geo {
template <typename T> struct Box {
    T side;
    __attribute__((noinline)) T grow(T by)
    {
        return (T)capture("cxx_method", (int)by) * side; /* @cxx_method */
    }
};
} // namespace geo

int main()
{
    geo::Box<long> b{2};
    long v = b.grow(3);
    print_report();
    return v == 12345;
}
