package harness

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/geminihooks/geminihooks/event"
	"github.com/geminihooks/geminihooks/inbox"
	"github.com/geminihooks/geminihooks/signing"
)

// HandlerRow is one inbox with one worker count: Events stored events handed to a handler that only
// counts them.
type HandlerRow struct {
	Inbox   string
	Workers int
	Events  int
	Elapsed time.Duration // from the listener's start to the last handler's return
}

// Rate is events handled per second.
func (r HandlerRow) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Events) / r.Elapsed.Seconds()
}

// HandlersResult holds handler throughput, measured apart from the request path. Skipped names inboxes
// that could not run, with why.
type HandlersResult struct {
	Rows    []HandlerRow
	Events  int
	Skipped map[string]string
}

// handlerStall is how long the count may stand still before a measurement is given up.
const handlerStall = 30 * time.Second

func runHandlers(ctx context.Context, cfg Config, logf func(string, ...any)) (HandlersResult, error) {
	res := HandlersResult{Events: cfg.HandlerEvents, Skipped: map[string]string{}}
	ss, noPG := stores(cfg)
	if noPG != "" {
		res.Skipped[pgStore] = noPG
	}
	for _, st := range ss {
		for _, w := range cfg.HandlerWorkers {
			row, err := measureHandlers(ctx, st, w, cfg.HandlerEvents, cfg.Postgres)
			if err != nil {
				return res, fmt.Errorf("harness: handlers, %s with %d workers: %w", st.name, w, err)
			}
			logf("handlers %s, %s: %d events in %v, %.0f/s", st.name, plural(w, "worker"), row.Events, row.Elapsed, row.Rate())
			res.Rows = append(res.Rows, row)
		}
	}
	return res, nil
}

// measureHandlers stores n events in a fresh inbox with Put, has PostgreSQL checkpoint (see
// checkpointPG), then times a listener with the given workers until its handler has seen them all. Each
// worker claims, handles and acks one event at a time, so the figure is what the workers drain, with no
// request competing.
func measureHandlers(ctx context.Context, st store, workers, n int, pg string) (HandlerRow, error) {
	ib, closeIB, err := st.open(ctx)
	if err != nil {
		return HandlerRow{}, err
	}
	defer closeIB()
	run := fmt.Sprintf("handlers-%d-%d", workers, time.Now().UnixNano())
	if err := putEvents(ctx, ib, run, n); err != nil {
		return HandlerRow{}, err
	}
	if err := checkpointPG(ctx, pg); err != nil {
		return HandlerRow{}, err
	}
	var handled atomic.Int64
	all := make(chan struct{})
	start := time.Now()
	_, stop, err := serve(ctx, ib, func(context.Context, *event.Event) error {
		if handled.Add(1) == int64(n) {
			close(all)
		}
		return nil
	}, listenerSetup{workers: workers})
	if err != nil {
		return HandlerRow{}, err
	}
	defer stop()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	last, lastMove := int64(0), start
	for {
		select {
		case <-all:
			return HandlerRow{Inbox: st.name, Workers: workers, Events: n, Elapsed: time.Since(start)}, nil
		case <-ctx.Done():
			return HandlerRow{}, ctx.Err()
		case now := <-tick.C:
			if h := handled.Load(); h != last {
				last, lastMove = h, now
			} else if now.Sub(lastMove) > handlerStall {
				return HandlerRow{}, fmt.Errorf("%d of %d events handled, none in the last %v", h, n, handlerStall)
			}
		}
	}
}

// putEvents stores n deliveries of a run in ib as the listener would store them, all at once so that
// the inboxes' group commits make it quick.
func putEvents(ctx context.Context, ib inbox.Inbox, run string, n int) error {
	now := time.Now()
	return parallel(n, func(i int) error {
		m, err := storedDelivery(run, i, now)
		if err == nil {
			_, err = ib.Put(ctx, m)
		}
		return err
	})
}

// storedDelivery is delivery i of a run as the listener stores it once verified.
func storedDelivery(run string, i int, now time.Time) (*inbox.Message, error) {
	id, body, err := delivery(run, i, now, 0)
	if err != nil {
		return nil, err
	}
	ev, err := event.Parse(body)
	if err != nil {
		return nil, err
	}
	return &inbox.Message{ID: id, JobKey: event.JobKey(ev), Body: body, Scheme: string(signing.SchemeHMAC), ReceivedAt: now}, nil
}

func (r HandlersResult) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Each cell: %d events stored with `Put` in a fresh inbox before the clock starts, then a listener whose one handler only counts them, ", r.Events)
	b.WriteString("timed from its start to the last handler's return: handled events per second (and the time taken). ")
	b.WriteString("No request competes with the workers; the listener's dispatcher claims for all its idle workers in one call, and each worker acks in the background while it runs the next event.\n\n")
	var workers []int
	var inboxes []string
	cells := map[string]map[int]HandlerRow{}
	for _, x := range r.Rows {
		if cells[x.Inbox] == nil {
			cells[x.Inbox] = map[int]HandlerRow{}
			inboxes = append(inboxes, x.Inbox)
		}
		cells[x.Inbox][x.Workers] = x
		if !slices.Contains(workers, x.Workers) {
			workers = append(workers, x.Workers)
		}
	}
	header := []string{"inbox"}
	for _, w := range workers {
		header = append(header, plural(w, "worker"))
	}
	var rows [][]string
	for _, name := range inboxes {
		row := []string{name}
		for _, w := range workers {
			if x, ok := cells[name][w]; ok {
				row = append(row, fmt.Sprintf("%.0f/s (%s)", x.Rate(), dur(float64(x.Elapsed))))
			} else {
				row = append(row, "-")
			}
		}
		rows = append(rows, row)
	}
	b.WriteString(table(header, rows))
	for name, why := range r.Skipped {
		fmt.Fprintf(&b, "\n%s: skipped, %s.\n", name, why)
	}
	return b.String()
}
