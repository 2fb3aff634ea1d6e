package boltinbox

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
)

// ErrCorrupt reports a file that is not a readable inbox: not a bbolt
// database, damaged, truncated, or a bbolt database of another program.
var ErrCorrupt = errors.New("boltinbox: file is not a valid inbox")

// ErrLocked reports that another process (or another Open in this one) holds
// the inbox file. bbolt allows one writer per file.
var ErrLocked = errors.New("boltinbox: file is in use by another process")

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
	return boltMeta{pageSize: ne.Uint32(m[8:]), pgid: ne.Uint64(m[40:]), txid: ne.Uint64(m[48:])}, true
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
		return fmt.Errorf("boltinbox: open %s: %w", path, err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return fmt.Errorf("boltinbox: stat %s: %w", path, err)
	}
	size := info.Size()
	if size == 0 {
		return nil
	}
	var buf [4096]byte
	n, err := f.ReadAt(buf[:], 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("boltinbox: read %s: %w", path, err)
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
			return fmt.Errorf("boltinbox: read %s: %w", path, err)
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
	if need := int64(m.pgid) * int64(m.pageSize); m.pgid < 2 || need > size || need < 0 {
		return fmt.Errorf("%w: %s is truncated: %d bytes, but its pages need %d", ErrCorrupt, path, size, need)
	}
	return nil
}
