package ledger_test

import (
	"testing"

	"github.com/geminihooks/geminihooks/ledger"
	"github.com/geminihooks/geminihooks/ledger/ledgertest"
)

func TestMemoryConformance(t *testing.T) {
	t.Parallel()
	ledgertest.Run(t, func(*testing.T) ledger.Ledger { return ledger.NewMemory() })
}
