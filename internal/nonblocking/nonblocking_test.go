package nonblocking_test

import (
	"testing"

	"github.com/geminihooks/geminihooks/inbox"
	"github.com/geminihooks/geminihooks/internal/nonblocking"
)

type marked struct{ nonblocking.Mark }

func TestIs(t *testing.T) {
	if !nonblocking.Is(&marked{}) || !nonblocking.Is(marked{}) {
		t.Error("a type embedding Mark is not marked")
	}
	if nonblocking.Is(struct{}{}) || nonblocking.Is(nil) {
		t.Error("an unmarked value is marked")
	}
	ib, err := inbox.NewMemory(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ib.Close()
	if !nonblocking.Is(ib) {
		t.Error("the memory inbox is not marked")
	}
}
