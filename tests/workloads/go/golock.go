// golock.go - goroutines contending a sync.Mutex, timed by themselves (live tests). Goroutines
// block in Go's scheduler, not in the kernel; only idle OS threads (Ms) sleep on futexes
// (runtime.notesleep). Usage: golock SECONDS. Prints its truth as one JSON line on stdout.
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"
)

var inventoryMu sync.Mutex
var stock = map[int]int{}

func spin(d time.Duration) {
	t := time.Now()
	for time.Since(t) < d {
	}
}

func main() {
	secs := 2.0
	if len(os.Args) > 1 {
		secs, _ = strconv.ParseFloat(os.Args[1], 64)
	}
	end := time.Now().Add(time.Duration(secs * float64(time.Second)))
	var wg sync.WaitGroup
	waited := make([]time.Duration, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for time.Now().Before(end) {
				t0 := time.Now()
				inventoryMu.Lock()
				waited[g] += time.Since(t0)
				stock[g]++
				spin(100 * time.Microsecond)
				inventoryMu.Unlock()
				time.Sleep(200 * time.Microsecond)
			}
		}(g)
	}
	wg.Wait()
	var tot time.Duration
	for _, w := range waited {
		tot += w
	}
	fmt.Printf("{\"mutex_wait_ns\": %d, \"go\": %q}\n", tot.Nanoseconds(), runtime.Version())
}
