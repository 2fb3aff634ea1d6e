package pginbox_test

import (
	"context"
	"log"
	"net/http"
	"os"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/geminihooks/geminihooks/event"
	"github.com/geminihooks/geminihooks/inbox/pginbox"
	"github.com/geminihooks/geminihooks/listener"
	"github.com/geminihooks/geminihooks/signing"
)

// A handler whose write commits in the transaction that acks its event: a
// crash or a retry can neither record a batch's results twice nor ack the
// event without them. The example needs a PostgreSQL server, so it is
// compiled but not run.
func ExampleInbox_Transactional() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	ib, err := pginbox.New(pool, pginbox.WithTable("app.webhook_inbox"))
	if err != nil {
		log.Fatal(err)
	}
	defer ib.Close()
	if err := ib.Migrate(ctx); err != nil {
		log.Fatal(err)
	}
	verifier, err := signing.NewVerifier(&signing.Config{Secrets: []string{os.Getenv("GEMINI_WEBHOOK_SECRET")}})
	if err != nil {
		log.Fatal(err)
	}

	l := listener.New(verifier, listener.WithInbox(ib))
	l.On(event.TypeBatchSucceeded, ib.Transactional(func(ctx context.Context, tx pgx.Tx, e *event.Event) error {
		d, err := event.As[*event.Batch](e)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO app.batch_results (name, output_uri) VALUES ($1, $2)`, d.ID, d.OutputFileURI)
		return err
	}))
	http.Handle("/gemini/webhook", l)
	go l.Run(ctx)
	log.Fatal(http.ListenAndServe(":8080", nil))
}
