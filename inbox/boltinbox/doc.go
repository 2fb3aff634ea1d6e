// Package boltinbox keeps a listener's inbox, and the job ledger beside it,
// in one bbolt file, for a listener on one machine. Put returns once the
// message is in a write-ahead log beside the file (path+"-wal") and the
// log is synced, one small write and sync shared by the Puts that arrive
// together; the file takes the message in a later commit, and Open replays
// what the log holds past the file. Every other change is committed and
// fsynced before it returns. So every delivery answered 2xx survives a
// crash, SIGKILL or power loss. A claim found at Open was made by a process
// that has let the file go, so its event runs again at once. One process
// may open a file at a time (ErrLocked); a damaged or foreign file fails
// with ErrCorrupt, never a panic. While a process has the file open, a
// copy of it needs the log too; after Close the file holds everything.
//
// A Put takes about one flush of the disk, and a flush waits behind
// whatever else is being written to that disk: keep heavy writers (a
// database's checkpoints, backups) off it, or Puts slow down with them.
//
//	db, err := boltinbox.Open("/var/lib/app/inbox.db", nil)
//	if err != nil {
//		return err
//	}
//	defer db.Close()
//	l, err := listener.New(verifier, &listener.Config{Inbox: db, Ledger: db.Ledger})
package boltinbox
