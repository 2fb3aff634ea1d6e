package harness

import (
	"context"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"
)

// LoadResult is one open-loop run at one offered rate.
type LoadResult struct {
	Rate      float64         // offered requests per second
	Sent      int             // requests issued
	OK        int             // 2xx answers
	Failed    int             // other answers and transport errors
	Refused   map[int]int     // non-2xx answers by status code
	Errors    int             // transport errors, mostly the client's timeout under overload
	Elapsed   time.Duration   // from the first scheduled send to the last answer
	Latencies []time.Duration // of the 2xx answers, from each request's scheduled send time, sorted
}

// merge adds another run at the same rate; the caller sorts Latencies once done.
func (r *LoadResult) merge(o LoadResult) {
	r.Sent += o.Sent
	r.OK += o.OK
	r.Failed += o.Failed
	r.Errors += o.Errors
	r.Elapsed += o.Elapsed
	for code, n := range o.Refused {
		r.Refused[code] += n
	}
	r.Latencies = append(r.Latencies, o.Latencies...)
}

// Throughput is 2xx answers per second of wall time.
func (r LoadResult) Throughput() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.OK) / r.Elapsed.Seconds()
}

// Quantile returns the q-quantile (0..1) of the 2xx latencies, or 0 with none.
func (r LoadResult) Quantile(q float64) time.Duration {
	return quantile(r.Latencies, q)
}

func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted)) + 0.5)
	return sorted[min(max(i-1, 0), len(sorted)-1)]
}

// openLoop sends n requests at a constant rate whatever the server does: request i is due at
// start + i/rate and is sent then (or at once if the generator is late), on its own goroutine, so a
// slow answer never delays the next send. Latency counts from the due time, not from the actual send,
// so a stall in the generator or the server is charged to the latency instead of hidden
// (coordinated omission). newReq builds request i; it runs before the clock starts.
func openLoop(ctx context.Context, client *http.Client, rate float64, n int, newReq func(i int) (*http.Request, error)) (LoadResult, error) {
	reqs := make([]*http.Request, n)
	for i := range reqs {
		r, err := newReq(i)
		if err != nil {
			return LoadResult{}, err
		}
		reqs[i] = r.WithContext(ctx)
	}
	lat := make([]time.Duration, n)
	ok := make([]bool, n)
	status := make([]int, n)
	period := time.Duration(float64(time.Second) / rate)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		last time.Time
	)
	start := time.Now()
	sent := 0
	for i := range n {
		due := start.Add(time.Duration(i) * period)
		if d := time.Until(due); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
			case <-t.C:
			}
		}
		if ctx.Err() != nil {
			break
		}
		sent++
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := client.Do(reqs[i])
			end := time.Now()
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				ok[i] = resp.StatusCode/100 == 2
				status[i] = resp.StatusCode
			}
			lat[i] = end.Sub(due)
			mu.Lock()
			if end.After(last) {
				last = end
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	res := LoadResult{Rate: rate, Sent: sent, Elapsed: last.Sub(start), Refused: map[int]int{}}
	for i := range sent {
		switch {
		case ok[i]:
			res.OK++
			res.Latencies = append(res.Latencies, lat[i])
		case status[i] == 0:
			res.Failed++
			res.Errors++
		default:
			res.Failed++
			res.Refused[status[i]]++
		}
	}
	slices.Sort(res.Latencies)
	return res, ctx.Err()
}
