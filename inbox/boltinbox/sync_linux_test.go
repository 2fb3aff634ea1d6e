package boltinbox

import (
	"testing"
	"unsafe"
)

// The kernel reads these structures at fixed offsets.
func TestAIOLayout(t *testing.T) {
	t.Parallel()
	var cb iocb
	var ev ioEvent
	got := []uintptr{unsafe.Sizeof(cb), unsafe.Offsetof(cb.opcode), unsafe.Offsetof(cb.fildes), unsafe.Offsetof(cb.flags), unsafe.Offsetof(cb.resfd), unsafe.Sizeof(ev), unsafe.Offsetof(ev.res)}
	want := []uintptr{64, 16, 20, 56, 60, 32, 16}
	for k := range want {
		if got[k] != want[k] {
			t.Fatalf("iocb size, opcode, fildes, flags, resfd; io_event size, res = %v; want %v", got, want)
		}
	}
}
