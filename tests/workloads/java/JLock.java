// JLock.java - Java monitor (synchronized) and ReentrantLock contention, timed by the threads
// themselves (live tests). Usage: java JLock SECONDS. Prints its truth as one JSON line.
import java.util.concurrent.locks.ReentrantLock;

public class JLock {
	static final Object ledger = new Object();
	static final ReentrantLock vault = new ReentrantLock();
	static long spinUntil(long ns) { long e = System.nanoTime() + ns, x = 0; while (System.nanoTime() < e) x++; return x; }

	public static void main(String[] a) throws Exception {
		double secs = a.length > 0 ? Double.parseDouble(a[0]) : 2;
		long end = System.nanoTime() + (long)(secs * 1e9);
		int n = 4;
		long[] monWait = new long[n], rlWait = new long[n];
		Thread[] th = new Thread[2 * n];
		for (int i = 0; i < n; i++) {
			final int k = i;
			th[i] = new Thread(() -> {
				while (System.nanoTime() < end) {
					long t0 = System.nanoTime();
					synchronized (ledger) {
						monWait[k] += System.nanoTime() - t0;
						spinUntil(500_000);
					}
					spinUntil(100_000);
				}
			}, "monitor-" + i);
			th[n + i] = new Thread(() -> {
				while (System.nanoTime() < end) {
					long t0 = System.nanoTime();
					vault.lock();
					try {
						rlWait[k] += System.nanoTime() - t0;
						spinUntil(500_000);
					} finally {
						vault.unlock();
					}
					spinUntil(100_000);
				}
			}, "reentrant-" + i);
		}
		for (Thread t : th) t.start();
		for (Thread t : th) t.join();
		long m = 0, r = 0;
		for (int i = 0; i < n; i++) { m += monWait[i]; r += rlWait[i]; }
		System.out.printf("{\"monitor_wait_ns\": %d, \"reentrant_wait_ns\": %d}%n", m, r);
	}
}
