package boltinbox

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"os"
)

// ErrCorrupt reports a file that is not a readable inbox: not a bbolt
// database, damaged, truncated, or a bbolt database of another program.
var ErrCorrupt = errors.New("boltinbox: file is not a valid inbox")

// ErrLocked reports that another process (or another Open in this one) holds
// the inbox file. bbolt allows one writer per file.
var ErrLocked = errors.New("boltinbox: file is in use by another process")

// fileError reports a failed file operation once: an *fs.PathError already
// names the operation and the path ("open /x: is a directory").
func fileError(op, path string, err error) error {
	if _, ok := errors.AsType[*fs.PathError](err); ok {
		return fmt.Errorf("boltinbox: %w", err)
	}
	return fmt.Errorf("boltinbox: %s %s: %w", op, path, err)
}

// bbolt's on-disk meta page, as laid out in go.etcd.io/bbolt/internal/common:
// a 16-byte page header, then magic, version, page size, flags, the root
// bucket (root page, sequence), freelist page, high-water page id, txid and an
// FNV-64a checksum of everything before it.
const (
	boltMagic       = 0xED0CDAED
	boltVersion     = 2
	pageHeaderSize  = 16
	metaChecksumOff = 56
	metaSize        = 64
)

type boltMeta struct {
	pageSize uint32
	root     uint64
	freelist uint64
	pgid     uint64
	txid     uint64
}

// parseMeta reads a meta page at the start of buf. bbolt writes it in the
// machine's byte order.
func parseMeta(buf []byte) (boltMeta, bool) {
	if len(buf) < pageHeaderSize+metaSize {
		return boltMeta{}, false
	}
	m := buf[pageHeaderSize : pageHeaderSize+metaSize]
	ne := binary.NativeEndian
	if ne.Uint32(m[0:]) != boltMagic || ne.Uint32(m[4:]) != boltVersion {
		return boltMeta{}, false
	}
	h := fnv.New64a()
	h.Write(m[:metaChecksumOff])
	if h.Sum64() != ne.Uint64(m[metaChecksumOff:]) {
		return boltMeta{}, false
	}
	return boltMeta{
		pageSize: ne.Uint32(m[8:]),
		root:     ne.Uint64(m[16:]),
		freelist: ne.Uint64(m[32:]),
		pgid:     ne.Uint64(m[40:]),
		txid:     ne.Uint64(m[48:]),
	}, true
}

// checkFile looks at an existing file before bbolt maps it. bbolt trusts its
// meta pages: a file cut short after a valid meta page makes it touch mapped
// memory past the end of the file, which kills the process with SIGBUS rather
// than returning an error. So this check reads both meta pages as bbolt
// would, picks the one bbolt would use, and insists that the file holds every
// page it names. A missing or empty file is fine: bbolt creates it.
func checkFile(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fileError("open", path, err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return fileError("stat", path, err)
	}
	size := info.Size()
	if size == 0 {
		return nil
	}
	var buf [4096]byte
	n, err := f.ReadAt(buf[:], 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return fileError("read", path, err)
	}
	meta0, ok0 := parseMeta(buf[:n])
	var meta1 boltMeta
	ok1 := false
	// The second meta page sits one page in; its size is recorded in the
	// first, or, when that is damaged, found by trying the sizes bbolt tries.
	for ps := int64(1024); ps <= 1<<24 && ps < size; ps <<= 1 {
		if ok0 && ps != int64(meta0.pageSize) {
			continue
		}
		n, err := f.ReadAt(buf[:], ps)
		if err != nil && !errors.Is(err, io.EOF) {
			return fileError("read", path, err)
		}
		if meta1, ok1 = parseMeta(buf[:n]); ok1 {
			break
		}
	}
	var m boltMeta
	switch {
	case ok0 && ok1 && meta1.txid > meta0.txid, !ok0 && ok1:
		m = meta1
	case ok0:
		m = meta0
	default:
		return fmt.Errorf("%w: %s is not a bbolt database or both its meta pages are damaged", ErrCorrupt, path)
	}
	if m.pageSize < 512 || m.pageSize&(m.pageSize-1) != 0 {
		return fmt.Errorf("%w: %s has an impossible page size %d", ErrCorrupt, path, m.pageSize)
	}
	if need := int64(m.pgid) * int64(m.pageSize); m.pgid < 2 || m.pgid > 1<<40 || need > size {
		return fmt.Errorf("%w: %s is truncated: %d bytes, but its pages need %d", ErrCorrupt, path, size, need)
	}
	if m.root < 2 || m.root >= m.pgid {
		return fmt.Errorf("%w: %s has its root page out of range", ErrCorrupt, path)
	}
	return checkFreelist(f, path, m)
}

// checkFreelist checks the freelist page bbolt reads at open, whose count
// would otherwise size an allocation (a damaged one can ask for terabytes,
// which is fatal rather than a panic) and a read past the mapped file.
func checkFreelist(f *os.File, path string, m boltMeta) error {
	const (
		freelistFlag = 0x10
		noFreelist   = ^uint64(0)
	)
	if m.freelist == noFreelist {
		return nil
	}
	if m.freelist < 2 || m.freelist >= m.pgid {
		return fmt.Errorf("%w: %s has its freelist page out of range", ErrCorrupt, path)
	}
	var hdr [pageHeaderSize + 8]byte
	if _, err := f.ReadAt(hdr[:], int64(m.freelist)*int64(m.pageSize)); err != nil {
		return fmt.Errorf("%w: %s: read freelist: %w", ErrCorrupt, path, err)
	}
	ne := binary.NativeEndian
	flags, count, overflow := ne.Uint16(hdr[8:]), uint64(ne.Uint16(hdr[10:])), uint64(ne.Uint32(hdr[12:]))
	ids := count
	if count == 0xFFFF {
		// The real count is the first element.
		ids = ne.Uint64(hdr[pageHeaderSize:]) + 1
	}
	if flags != freelistFlag || m.freelist+overflow >= m.pgid ||
		ids > (overflow+1)*uint64(m.pageSize)/8 || pageHeaderSize+8*ids > (overflow+1)*uint64(m.pageSize) {
		return fmt.Errorf("%w: %s has a damaged freelist page", ErrCorrupt, path)
	}
	return nil
}
