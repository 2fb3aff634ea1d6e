package pginbox_test

import (
	"context"
	"log"
	"net"
	"net/http"
	"os"
	"time"

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
func ExampleDB_Transactional() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	db, err := pginbox.New(pool, &pginbox.Config{Table: "app.webhook_inbox"})
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		log.Fatal(err)
	}
	verifier, err := signing.NewVerifier(&signing.Config{Secrets: []string{os.Getenv("GEMINI_WEBHOOK_SECRET")}})
	if err != nil {
		log.Fatal(err)
	}

	l, err := listener.New(verifier, &listener.Config{Inbox: db, Ledger: db.Ledger})
	if err != nil {
		log.Fatal(err)
	}
	l.On(event.TypeBatchSucceeded, db.Transactional(func(ctx context.Context, tx pgx.Tx, e *event.Event) error {
		d, err := event.As[*event.Batch](e)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO app.batch_results (name, output_uri) VALUES ($1, $2)`, d.ID, d.OutputFileURI)
		return err
	}))
	mux := http.NewServeMux()
	mux.Handle("/gemini/webhook", l)
	ln, err := net.Listen("tcp", ":8080")
	if err != nil {
		log.Fatal(err)
	}
	log.Fatal(l.Serve(ctx, &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}, ln))
}
