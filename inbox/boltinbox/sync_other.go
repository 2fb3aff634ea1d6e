//go:build !linux

package boltinbox

import "os"

// fdatasync is fsync where Linux's fdatasync is not available (on macOS,
// os.File.Sync asks the drive to flush its cache, as bbolt does).
func fdatasync(f *os.File) error { return f.Sync() }

// A flusher flushes one file; see sync_linux.go.
type flusher struct{ f *os.File }

func newFlusher(f *os.File) *flusher { return &flusher{f: f} }
func (s *flusher) sync() error       { return fdatasync(s.f) }
func (s *flusher) close()            {}
