// 100 threads, one after another, each with a C++ thread_local object: its
// constructor allocates 4245 bytes with new[], its destructor (run as the
// thread exits, before thread-specific values are destroyed) deletes them
// and allocates and frees 4246 bytes.  Nothing is left allocated.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

struct holder {
    char *p;
    holder() : p(new char[4245]) { std::memset(p, 1, 16); }
    ~holder()
    {
        delete[] p;
        void *volatile q = std::malloc(4246); // volatile: kept by the optimiser
        std::free(q);
    }
};

static thread_local holder slot;

static void work() { slot.p[0] = 2; }

int main()
{
    for (int i = 0; i < 100; i++) {
        std::thread t(work);
        t.join();
    }
    std::printf("tls_cxx: 100 threads\n");
    return 0;
}
