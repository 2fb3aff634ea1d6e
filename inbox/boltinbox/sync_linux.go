package boltinbox

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"unsafe"
)

// fdatasync flushes f's data, and the metadata needed to read it back,
// as bbolt does on Linux.
func fdatasync(f *os.File) error { return syscall.Fdatasync(int(f.Fd())) }

// A flusher flushes one file, as fdatasync does, but without holding a P
// of the Go scheduler while the disk works: it asks the kernel for the
// flush with Linux AIO (IOCB_CMD_FDSYNC, run on a kernel worker since Linux
// 4.18) and waits on an eventfd through the netpoller.
//
// Why: a goroutine blocked in a system call keeps its P until sysmon takes
// it back, and then waits for a free P to return. With GOMAXPROCS at 2 and
// the log and bbolt both syncing, both Ps can sit in system calls while the
// HTTP handlers wait; measured at 4,000 deliveries a second, the bbolt
// inbox's p50 answer took 4-6 ms at GOMAXPROCS 2 and 1.3-1.5 ms at 3.
type flusher struct {
	f   *os.File
	ctx uintptr  // aio_context_t; 0 when AIO is not available
	ev  *os.File // the eventfd the kernel signals, pollable
}

// The Linux AIO ABI (include/uapi/linux/aio_abi.h): fixed-width fields,
// the same on every architecture Go supports; the blank ones are those
// a flush leaves zero (aio_data, aio_key and aio_rw_flags, aio_reqprio,
// the buffer, length and offset, and a reserved word).
type iocb struct {
	_      [2]uint64
	opcode uint16
	_      int16
	fildes uint32
	_      [4]uint64
	flags  uint32
	resfd  uint32
}

type ioEvent struct {
	_   [2]uint64 // data, obj
	res int64
	_   int64
}

const (
	iocbCmdFdsync = 3
	iocbFlagResfd = 1
)

// newFlusher returns a flusher for f, falling back to a blocking fdatasync
// where AIO is refused (an old kernel, a seccomp profile).
func newFlusher(f *os.File) *flusher {
	s := &flusher{f: f}
	var ctx uintptr
	if _, _, e := syscall.Syscall(syscall.SYS_IO_SETUP, 1, uintptr(unsafe.Pointer(&ctx)), 0); e != 0 {
		return s
	}
	efd, _, e := syscall.Syscall(syscall.SYS_EVENTFD2, 0, syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if e != 0 {
		syscall.Syscall(syscall.SYS_IO_DESTROY, ctx, 0, 0)
		return s
	}
	s.ctx, s.ev = ctx, os.NewFile(efd, "eventfd")
	return s
}

// sync flushes the file. Calls must not overlap.
func (s *flusher) sync() error {
	if s.ctx == 0 {
		return fdatasync(s.f)
	}
	err := s.aio()
	if errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOSYS) || errors.Is(err, syscall.EOPNOTSUPP) {
		// The file system cannot do it asynchronously: stop asking.
		s.close()
		return fdatasync(s.f)
	}
	return err
}

func (s *flusher) aio() error {
	cb := iocb{opcode: iocbCmdFdsync, fildes: uint32(s.f.Fd()), flags: iocbFlagResfd, resfd: uint32(s.ev.Fd())}
	cbs := [1]*iocb{&cb}
	if n, _, e := syscall.Syscall(syscall.SYS_IO_SUBMIT, s.ctx, 1, uintptr(unsafe.Pointer(&cbs[0]))); e != 0 || n != 1 {
		if e == 0 {
			e = syscall.EIO
		}
		return fmt.Errorf("io_submit: %w", e)
	}
	var count [8]byte
	if _, err := s.ev.Read(count[:]); err != nil {
		return fmt.Errorf("eventfd: %w", err)
	}
	var ev [1]ioEvent
	var zero syscall.Timespec
	n, _, e := syscall.Syscall6(syscall.SYS_IO_GETEVENTS, s.ctx, 1, 1, uintptr(unsafe.Pointer(&ev[0])), uintptr(unsafe.Pointer(&zero)), 0)
	switch {
	case e != 0:
		return fmt.Errorf("io_getevents: %w", e)
	case n != 1:
		return errors.New("io_getevents: no event after the eventfd fired")
	case ev[0].res < 0:
		return syscall.Errno(-ev[0].res)
	}
	return nil
}

func (s *flusher) close() {
	if s.ctx != 0 {
		syscall.Syscall(syscall.SYS_IO_DESTROY, s.ctx, 0, 0)
		s.ev.Close()
		s.ctx = 0
	}
}
