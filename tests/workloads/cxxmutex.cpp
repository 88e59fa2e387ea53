// SPDX-License-Identifier: GPL-2.0
/*
 * cxxmutex.cpp - a C++ workload: two threads deposit into one bank::Account whose std::mutex
 * is held for HOLD_MS per deposit, so its stacks carry mangled C++ names to demangle.
 *   cxxmutex HOLD_MS ITERS   prints {"deposits": N}
 */
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>

namespace bank {

class Account {
public:
	__attribute__((noinline)) void deposit(long amount, int hold_ms)
	{
		std::lock_guard<std::mutex> guard(mutex_);
		balance_ += amount;
		std::this_thread::sleep_for(std::chrono::milliseconds(hold_ms));
	}
	long balance() const { return balance_; }

private:
	std::mutex mutex_;
	long balance_ = 0;
};

} // namespace bank

bank::Account account;

int main(int argc, char **argv)
{
	int hold_ms = argc > 1 ? atoi(argv[1]) : 10, iters = argc > 2 ? atoi(argv[2]) : 10;
	auto teller = [&] {
		for (int i = 0; i < iters; i++) {
			account.deposit(1, hold_ms);
			/* let the other teller in: each deposit then waits for one */
			std::this_thread::sleep_for(std::chrono::milliseconds(1));
		}
	};
	std::thread a(teller), b(teller);

	a.join();
	b.join();
	printf("{\"deposits\": %ld}\n", account.balance());
	return 0;
}
