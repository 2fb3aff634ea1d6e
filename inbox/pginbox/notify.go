package pginbox

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// Notify implements inbox.Inbox. The first call starts a listener on a
// dedicated connection (outside the pool) that LISTENs on the channel and
// signals after each notification, from this process or any other, and
// after each reconnect, since notifications sent while it was away are lost.
// Close stops it.
func (i *store) Notify() <-chan struct{} {
	i.mu.Lock()
	defer i.mu.Unlock()
	if !i.listening && !i.closed.Load() {
		i.listening = true
		i.wg.Add(1)
		go i.listen()
	}
	return i.notify
}

func (i *store) signal() {
	select {
	case i.notify <- struct{}{}:
	default:
	}
}

func (i *store) listen() {
	defer i.wg.Done()
	ctx := i.ctx
	const maxBackoff = 5 * time.Second
	backoff := 100 * time.Millisecond
	for {
		err := i.listenOnce(ctx, func() { backoff = 100 * time.Millisecond })
		if ctx.Err() != nil {
			return
		}
		i.logger.Warn("pginbox: notification listener lost its connection; workers fall back to polling", "error", err, "retry_in", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// listenOnce connects, listens and relays notifications until the
// connection fails or ctx ends.
func (i *store) listenOnce(ctx context.Context, connected func()) error {
	conn, err := pgx.ConnectConfig(ctx, i.pool.Config().ConnConfig)
	if err != nil {
		return err
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		conn.Close(closeCtx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{i.names.channel}.Sanitize()); err != nil {
		return err
	}
	connected()
	i.signal()
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return err
		}
		i.signal()
	}
}

// announce wakes this process's workers at once and asks the announcer to
// tell the other processes.
func (i *store) announce() {
	i.signal()
	select {
	case i.wakeup <- struct{}{}:
	default:
	}
}

// announcer sends the NOTIFYs, one at a time, outside the transactions that
// made messages claimable. PostgreSQL serialises the commits of transactions
// that notify, flush included, so a NOTIFY inside every Put would cap the
// whole fleet at one Put per WAL flush. Here the Puts commit in parallel,
// and all the Puts that land during one NOTIFY share the next. A notification
// needs no durability, hence synchronous_commit off; a lost one only delays
// workers until their next poll.
func (i *store) announcer() {
	defer i.wg.Done()
	ctx := i.ctx
	// The statements of one simple query run as one implicit transaction,
	// which SET LOCAL applies to. The channel is a checked identifier, so it
	// can be a literal.
	q := "SET LOCAL synchronous_commit TO off; SELECT pg_notify('" + i.names.channel + "', '')"
	for {
		select {
		case <-ctx.Done():
			return
		case <-i.wakeup:
		}
		if _, err := i.pool.Exec(ctx, q); err != nil && ctx.Err() == nil {
			i.logger.Debug("pginbox: notify failed; other processes will find the work by polling", "error", err)
		}
	}
}
