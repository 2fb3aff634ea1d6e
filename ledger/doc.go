// Package ledger records the jobs a client launched, so that a job whose
// webhook delivery never comes is still found: the client tracks each job,
// the listener settles it when its event is stored, and a reconciler looks
// after the ones that stay unsettled (package reconcile).
//
// A [Ledger] lives beside the deliveries: inbox/boltinbox and inbox/pginbox
// keep one in the same file or database as their inbox, so it survives the
// same restarts and is shared by the same fleet. [NewMemory] keeps one in
// process memory. Package ledger/ledgertest is the conformance suite.
//
//	db, err := boltinbox.Open("/var/lib/app/inbox.db", nil)
//	...
//	l, err := listener.New(verifier, &listener.Config{Inbox: db, Ledger: db.Ledger})
//	rec, err := reconcile.New(client, db, db.Ledger, nil)
package ledger
