package harness

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/geminihooks/geminihooks/event"
	"github.com/geminihooks/geminihooks/inbox"
)

// BodyLoad is a body size and the rate it is offered at: large bodies at a rate a machine can carry.
type BodyLoad struct {
	Size int // bytes
	Rate float64
}

// SizeRow is one server under load with bodies of one size.
type SizeRow struct {
	Size int
	ListenRow
}

// StoredRow is one durable inbox under load with Stored done events already in it, and one Prune run
// halfway through the load.
type StoredRow struct {
	Inbox     string
	Stored    int
	Fill      time.Duration // filling the inbox, before the load
	Pruned    int           // events the Prune deleted
	PruneTook time.Duration
	PruneErr  string
	LoadResult
}

// GrowthResult holds how the listener's cost grows with the body size and with the events stored.
// Skipped names servers that could not run, with why.
type GrowthResult struct {
	Sizes    []SizeRow
	Stored   []StoredRow
	Duration time.Duration
	Slices   int
	Skipped  map[string]string
}

const (
	// growthMaxBody is the listener's body limit in the growth part: the largest body measured is
	// 1 MiB, the listener's default limit, and must not be refused for being at it.
	growthMaxBody = 2 << 20
	// dedupeWindow is the listener's default dedupe window, as the report's prose says: done events
	// are kept this long.
	dedupeWindow = 48 * time.Hour
	// pruneEvery is how often the listener prunes, as the report's prose says. In a steady state each
	// Prune deletes what finished in the pruneEvery before the window's start.
	pruneEvery = 10 * time.Minute
)

func runGrowth(ctx context.Context, cfg Config, logf func(string, ...any)) (GrowthResult, error) {
	res := GrowthResult{Duration: cfg.LoadDuration, Slices: max(cfg.LoadSlices, 1), Skipped: map[string]string{}}
	client := loadClient()
	defer client.CloseIdleConnections()
	for _, bl := range cfg.Bodies {
		// pginbox's absence is noted once, below.
		bs := listenBackends(cfg, map[string]string{}, listenerSetup{maxBody: growthMaxBody})
		rows, err := loadPasses(ctx, client, bs, load{rate: bl.Rate, dur: cfg.LoadDuration, turns: cfg.LoadSlices, size: bl.Size, pg: cfg.Postgres})
		if err != nil {
			return res, err
		}
		for _, x := range rows {
			logf("growth %s bodies, %s at %.0f/s: %d sent, %d ok, %d failed, %.0f/s, p50 %v p99 %v",
				bytesize(bl.Size), x.Backend, bl.Rate, x.Sent, x.OK, x.Failed, x.Throughput(), x.Quantile(0.5), x.Quantile(0.99))
			res.Sizes = append(res.Sizes, SizeRow{Size: bl.Size, ListenRow: x})
		}
	}
	fills := []filledStore{{boltStore, openFilledBolt}}
	if noPG := postgresMissing(cfg.Postgres); noPG != "" {
		res.Skipped[pgStore] = noPG
	} else {
		fills = append(fills, filledStore{pgStore, func(ctx context.Context, n int, from, to time.Time) (inbox.Store, func(), error) {
			return openFilledPG(ctx, cfg.Postgres, n, from, to)
		}})
	}
	for _, f := range fills {
		rows, err := measureStored(ctx, client, f, cfg.Stored, load{rate: cfg.StoredRate, dur: cfg.LoadDuration, turns: cfg.LoadSlices, pg: cfg.Postgres})
		if err != nil {
			return res, fmt.Errorf("harness: growth, %s: %w", f.name, err)
		}
		for _, row := range rows {
			logf("growth %s with %d stored (filled in %v): %d sent, %d ok, %d failed, %.0f/s, p50 %v p99 %v; prune deleted %d in %v %s",
				f.name, row.Stored, row.Fill, row.Sent, row.OK, row.Failed, row.Throughput(), row.Quantile(0.5), row.Quantile(0.99), row.Pruned, row.PruneTook, row.PruneErr)
		}
		res.Stored = append(res.Stored, rows...)
	}
	return res, nil
}

// filledStore opens a durable inbox holding n done events that finished over (from, to], and what
// removes it.
type filledStore struct {
	name string
	open func(ctx context.Context, n int, from, to time.Time) (inbox.Store, func(), error)
}

// measureStored fills one inbox per count with that many done events, as a listener leaves them
// within its dedupe window, and puts a listener over each. Then it loads them as ld says, in turns
// rotating between them as the listen part does, so that the machine's own pauses fall on every count
// alike rather than on one count's whole run. Halfway through its middle turn, each runs the Prune its
// listener would run then: the one that deletes what aged past the window since the last.
func measureStored(ctx context.Context, client *http.Client, f filledStore, counts []int, ld load) ([]StoredRow, error) {
	// Finish times span the window but its last three prune intervals, so that the listener's own
	// Prune at start (with a cutoff of now minus the window) finds nothing while the fills take up to
	// half an hour; the Prune during the load deletes the oldest interval's worth.
	to := time.Now()
	from := to.Add(-dedupeWindow + 3*pruneEvery)
	rows := make([]StoredRow, len(counts))
	var bs []backend
	for k, n := range counts {
		row := &rows[k]
		bs = append(bs, backend{fmt.Sprintf("%s-%d", f.name, n), func(ctx context.Context) (server, error) {
			start := time.Now()
			ib, remove, err := f.open(ctx, n, from, to)
			if err != nil {
				return server{}, fmt.Errorf("%d stored: %w", n, err)
			}
			*row = StoredRow{Inbox: f.name, Stored: n, Fill: time.Since(start), PruneErr: "not run: the load ended first"}
			l, stop, err := serve(ctx, ib, func(context.Context, *event.Event) error { return nil }, listenerSetup{})
			if err != nil {
				remove()
				return server{}, err
			}
			prune := func() {
				start := time.Now()
				var err error
				row.Pruned, err = ib.Prune(ctx, from.Add(pruneEvery))
				row.PruneTook = time.Since(start)
				row.PruneErr = ""
				if err != nil {
					row.PruneErr = err.Error()
				}
			}
			return server{h: l, stop: func() { stop(); remove() }, depth: ib.Depth, midLoad: prune}, nil
		}})
	}
	lrs, err := loadServers(ctx, client, bs, ld)
	if err != nil {
		return nil, err
	}
	for k := range rows {
		rows[k].LoadResult = lrs[k].LoadResult
	}
	return rows, nil
}

// bytesize is "1 KiB", "20 KiB", "1 MiB", or bytes.
func bytesize(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	default:
		return fmt.Sprintf("%d B", n)
	}
}

// storedTargets checks issue 18's bound on growth for each durable inbox: dedupe lookups and pruning
// may slow ingestion by at most 20% with the most events stored (10^6 at full size) against the fewest
// (10^3), in throughput and in p99 ack latency. An inbox measured at one count is left out.
func (r GrowthResult) storedTargets() string {
	var order []string
	lo, hi := map[string]StoredRow{}, map[string]StoredRow{}
	for _, x := range r.Stored {
		if x.OK == 0 {
			continue
		}
		if _, ok := lo[x.Inbox]; !ok {
			order = append(order, x.Inbox)
			lo[x.Inbox], hi[x.Inbox] = x, x
		}
		if x.Stored < lo[x.Inbox].Stored {
			lo[x.Inbox] = x
		}
		if x.Stored > hi[x.Inbox].Stored {
			hi[x.Inbox] = x
		}
	}
	var rows [][]string
	for _, name := range order {
		a, b := lo[name], hi[name]
		if a.Stored == b.Stored {
			continue
		}
		at := func(x StoredRow) string { return "with " + countLabel(x.Stored) + " stored" }
		tput := b.Throughput() / a.Throughput()
		rows = append(rows, []string{fmt.Sprintf("%s 2xx/s %s >= 0.8x %s", name, at(b), at(a)),
			fmt.Sprintf("%.3f (%.0f/s vs %.0f/s)", tput, b.Throughput(), a.Throughput()), yesNo(tput >= 0.8)})
		p99 := float64(b.Quantile(0.99)) / float64(a.Quantile(0.99))
		rows = append(rows, []string{fmt.Sprintf("%s p99 ack %s <= 1.2x %s", name, at(b), at(a)),
			fmt.Sprintf("%.2f (%s vs %s)", p99, dur(float64(b.Quantile(0.99))), dur(float64(a.Quantile(0.99)))), yesNo(p99 <= 1.2)})
	}
	if len(rows) == 0 {
		return ""
	}
	return table([]string{"target", "measured", "met"}, rows) + "\n"
}

func (r GrowthResult) markdown() string {
	var b strings.Builder
	if len(r.Sizes) > 0 {
		fmt.Fprintf(&b, "**Body size.** Each cell: %v of open-loop load at the offered rate, on loopback, in %d turns rotating between the servers, as in the listener section, ", r.Duration, r.Slices)
		fmt.Fprintf(&b, "with each event's user metadata padded until the body is the size shown; the listener's body limit is %s. Ratios are listener/bare at the same size and rate.\n\n", bytesize(growthMaxBody))
		var rows [][]string
		for _, x := range r.Sizes {
			var bare ListenRow
			for _, y := range r.Sizes {
				if y.Size == x.Size && y.Backend == bareBackend {
					bare = y.ListenRow
				}
			}
			row := append([]string{bytesize(x.Size), fmt.Sprintf("%.0f", x.Rate), x.Backend}, loadCells(x.LoadResult)...)
			rows = append(rows, append(row, vsBare(x.ListenRow, bare)))
		}
		b.WriteString(table([]string{"body", "offered/s", "server", "sent", "2xx", "failed", "2xx/s", "p50 ack", "p99 ack", "vs bare: tput / p50 / p99"}, rows))
	}
	if len(r.Stored) > 0 {
		b.WriteString("\n**Events already stored.** Each row: a fresh inbox holding that many done events, as a listener leaves them within its 48-hour dedupe window ")
		b.WriteString("(a record of each webhook-id and job key, no body), with finish times spread over the window; ")
		b.WriteString("boltinbox is filled through its API (Put, Claim and Ack, a round of events per 10 minutes of the window), pginbox with one `INSERT ... SELECT` of the same rows, then `VACUUM ANALYZE`. ")
		fmt.Fprintf(&b, "Then a listener over each of an inbox's rows gets up to %d requests at the rate to warm up, not counted, and once its handlers have taken them, %v of open-loop load in %d turns rotating between the rows of that inbox, as in the listener section, so that a pause of the machine's does not fall on one row's whole load. ", warmWork, r.Duration, r.Slices)
		b.WriteString("Halfway through its middle turn, each runs the Prune the listener makes every 10 minutes, which deletes the events that finished in the window's oldest 10 minutes.\n\n")
		b.WriteString(r.storedTargets())
		var rows [][]string
		for _, x := range r.Stored {
			prune := fmt.Sprintf("deleted %d in %s", x.Pruned, dur(float64(x.PruneTook)))
			if x.PruneErr != "" {
				prune = x.PruneErr
			}
			row := append([]string{x.Inbox, countLabel(x.Stored), dur(float64(x.Fill)), fmt.Sprintf("%.0f", x.Rate)}, loadCells(x.LoadResult)...)
			rows = append(rows, append(row, prune))
		}
		b.WriteString(table([]string{"inbox", "stored", "fill", "offered/s", "sent", "2xx", "failed", "2xx/s", "p50 ack", "p99 ack", "prune during the load"}, rows))
	}
	for name, why := range r.Skipped {
		fmt.Fprintf(&b, "\n%s: skipped, %s.\n", name, why)
	}
	return b.String()
}

// countLabel writes a power of ten as 10^k, other counts as they are.
func countLabel(n int) string {
	k := 0
	for m := n; m >= 10 && m%10 == 0; m /= 10 {
		k++
	}
	if k > 0 && n == int(math.Pow10(k)) {
		return fmt.Sprintf("10^%d", k)
	}
	return fmt.Sprint(n)
}
