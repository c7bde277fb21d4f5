package blob

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
)

// Pack files. A pack is an append-only file of records, each a whole
// object (a put) or the removal of one (a delete):
//
//	file header (packHeaderLen bytes):
//	  0  magic "vigilpk1"
//	  8  pack id, uint64 little-endian (also the file name, %016x.pack)
//	  16 CRC-32C of bytes 0..16
//	  20 zero
//	record:
//	  0  magic "vbr1"
//	  4  kind: 1 put, 2 delete
//	  5  zero
//	  6  key length, uint16
//	  8  data length, uint64
//	  16 SHA-256 of the data (zero for a delete)
//	  48 CRC-32C of the data
//	  52 CRC-32C of bytes 0..52 and the key
//	  56 key, then data
//
// The records of all packs, in pack id order and then file order, are the
// log of every change: replaying it gives the index. A record is written
// whole, only after its object has been read in full, and the pack is
// fsynced before any Put or Delete whose record it holds returns, so a
// crash leaves at most a torn run of records at the end of the newest
// pack, none of them acknowledged: opening checks every record of that
// pack, header and data, and cuts the file at the first bad one.
//
// Packs other than the newest are sealed: never written again, only
// removed whole once compaction has copied their live records to the
// newest pack. A sealed pack has a sidecar index, %016x.idx, listing its
// records without their data, so that opening and compaction need not
// read the pack; a missing or damaged sidecar is rebuilt from the pack.
const (
	packsDir      = "packs"
	packExt       = ".pack"
	idxExt        = ".idx"
	packHeaderLen = 24
	recHeaderLen  = 56

	kindPut    = 1
	kindDelete = 2
)

var (
	packMagic  = [8]byte{'v', 'i', 'g', 'i', 'l', 'p', 'k', '1'}
	recMagic   = [4]byte{'v', 'b', 'r', '1'}
	idxMagic   = [8]byte{'v', 'i', 'g', 'i', 'l', 'i', 'x', '1'}
	castagnoli = crc32.MakeTable(crc32.Castagnoli)
)

// pack is one pack file.
type pack struct {
	id uint64
	f  *os.File
	// size is the end of the last record: where the next one goes.
	size int64
	// live counts the bytes of records that are the current copy of a
	// stored object.
	live int64
	// refs counts open Objects reading f; gone means the pack has left
	// the Dir, and f is closed once refs is 0. Both under Dir.mu.
	refs int
	gone bool
	// sealed: no longer written; indexed: its sidecar index is on disk.
	sealed, indexed bool
}

func packName(id uint64) string { return packsDir + "/" + fmt.Sprintf("%016x", id) + packExt }
func idxName(id uint64) string  { return packsDir + "/" + fmt.Sprintf("%016x", id) + idxExt }

// parsePackName returns the id of a pack file name ("%016x.pack").
func parsePackName(name string) (uint64, bool) {
	s, ok := strings.CutSuffix(name, packExt)
	if !ok || len(s) != 16 {
		return 0, false
	}
	id, err := strconv.ParseUint(s, 16, 64)
	return id, err == nil && id > 0
}

func packHeader(id uint64) []byte {
	b := make([]byte, packHeaderLen)
	copy(b, packMagic[:])
	binary.LittleEndian.PutUint64(b[8:], id)
	binary.LittleEndian.PutUint32(b[16:], crc32.Checksum(b[:16], castagnoli))
	return b
}

func checkPackHeader(b []byte, id uint64) error {
	if len(b) < packHeaderLen || !bytes.Equal(b[:8], packMagic[:]) ||
		binary.LittleEndian.Uint32(b[16:]) != crc32.Checksum(b[:16], castagnoli) {
		return errors.New("not a pack file header")
	}
	if got := binary.LittleEndian.Uint64(b[8:]); got != id {
		return fmt.Errorf("the header names pack %x", got)
	}
	return nil
}

// record is a record's header, as read back.
type record struct {
	kind byte
	key  string
	off  int64 // where the record starts in its pack
	size int64 // data bytes
	sum  [32]byte
	crc  uint32 // of the data
}

func recordLen(key string, size int64) int64 { return recHeaderLen + int64(len(key)) + size }
func (r *record) len() int64                 { return recordLen(r.key, r.size) }
func (r *record) dataOff() int64             { return r.off + recHeaderLen + int64(len(r.key)) }

// putHeader writes a record header and key into b, which has room for
// them.
func putHeader(b []byte, kind byte, key string, size int64, sum *[32]byte, dataCRC uint32) {
	copy(b, recMagic[:])
	b[4] = kind
	b[5] = 0
	binary.LittleEndian.PutUint16(b[6:], uint16(len(key)))
	binary.LittleEndian.PutUint64(b[8:], uint64(size))
	if sum != nil {
		copy(b[16:48], sum[:])
	} else {
		clear(b[16:48])
	}
	binary.LittleEndian.PutUint32(b[48:], dataCRC)
	copy(b[recHeaderLen:], key)
	c := crc32.Update(0, castagnoli, b[:52])
	c = crc32.Update(c, castagnoli, b[recHeaderLen:recHeaderLen+len(key)])
	binary.LittleEndian.PutUint32(b[52:], c)
}

// tombstone returns the record of key's removal.
func tombstone(key string) []byte {
	b := make([]byte, recordLen(key, 0))
	putHeader(b, kindDelete, key, 0, nil, 0)
	return b
}

var errBadRecord = errors.New("not a valid record")

// parseHeader reads the record header at the start of b, which holds at
// least recHeaderLen bytes and the key if it fits. It returns
// errBadRecord (wrapped) for anything but a whole valid header.
func parseHeader(b []byte, off int64) (record, error) {
	if len(b) < recHeaderLen || !bytes.Equal(b[:4], recMagic[:]) {
		return record{}, fmt.Errorf("%w at offset %d: no record header", errBadRecord, off)
	}
	kind := b[4]
	klen := int(binary.LittleEndian.Uint16(b[6:]))
	size := binary.LittleEndian.Uint64(b[8:])
	if (kind != kindPut && kind != kindDelete) || b[5] != 0 || klen == 0 || klen > MaxKeyLen || size > 1<<62 || (kind == kindDelete && size != 0) {
		return record{}, fmt.Errorf("%w at offset %d: bad header fields", errBadRecord, off)
	}
	if len(b) < recHeaderLen+klen {
		return record{}, fmt.Errorf("%w at offset %d: key cut short", errBadRecord, off)
	}
	c := crc32.Update(0, castagnoli, b[:52])
	c = crc32.Update(c, castagnoli, b[recHeaderLen:recHeaderLen+klen])
	if c != binary.LittleEndian.Uint32(b[52:]) {
		return record{}, fmt.Errorf("%w at offset %d: header checksum mismatch", errBadRecord, off)
	}
	key := string(b[recHeaderLen : recHeaderLen+klen])
	if !ValidKey(key) {
		return record{}, fmt.Errorf("%w at offset %d: invalid key", errBadRecord, off)
	}
	r := record{kind: kind, key: key, off: off, size: int64(size), crc: binary.LittleEndian.Uint32(b[48:])}
	copy(r.sum[:], b[16:48])
	return r, nil
}

// readHeader reads the header of the record at off in f.
func readHeader(f io.ReaderAt, off int64) (record, error) {
	var b [recHeaderLen + MaxKeyLen]byte
	n, err := f.ReadAt(b[:], off)
	if n < recHeaderLen && err != nil {
		return record{}, err
	}
	return parseHeader(b[:n], off)
}

// scanPack reads the records of f from its header on, up to end bytes,
// calling fn for each. With verify it also checks each record's data
// against its CRC. It returns where the valid records end and, if they
// end before end, why.
func scanPack(f io.ReaderAt, end int64, verify bool, fn func(record)) (int64, error) {
	off := int64(packHeaderLen)
	var buf []byte
	if verify {
		b := getBuf()
		defer putBuf(b)
		buf = *b
	}
	for off < end {
		r, err := readHeader(io.NewSectionReader(f, 0, end), off)
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = fmt.Errorf("%w at offset %d: cut short", errBadRecord, off)
			}
			return off, err
		}
		if off+r.len() > end {
			return off, fmt.Errorf("%w at offset %d: data cut short", errBadRecord, off)
		}
		if verify {
			c := uint32(0)
			for pos, stop := r.dataOff(), r.dataOff()+r.size; pos < stop; {
				n := int(min(int64(len(buf)), stop-pos))
				if _, err := f.ReadAt(buf[:n], pos); err != nil {
					return off, err
				}
				c = crc32.Update(c, castagnoli, buf[:n])
				pos += int64(n)
			}
			if c != r.crc {
				return off, fmt.Errorf("%w at offset %d: data checksum mismatch", errBadRecord, off)
			}
		}
		fn(r)
		off += r.len()
	}
	return off, nil
}

// Sidecar index ("%016x.idx") of a sealed pack:
//
//	0  magic "vigilix1"
//	8  pack id, uint64
//	16 pack size (end of its last record), uint64
//	24 record count, uint64
//	32 per record: kind byte, key length uint16, data length uint64, key
//	   (records follow each other from the pack header on, so offsets
//	   need not be stored)
//	end: CRC-32C of everything before, uint32
func encodeSidecar(id uint64, size int64, recs []record) []byte {
	n := 32 + 4
	for i := range recs {
		n += 11 + len(recs[i].key)
	}
	b := make([]byte, 32, n)
	copy(b, idxMagic[:])
	binary.LittleEndian.PutUint64(b[8:], id)
	binary.LittleEndian.PutUint64(b[16:], uint64(size))
	binary.LittleEndian.PutUint64(b[24:], uint64(len(recs)))
	for i := range recs {
		b = append(b, recs[i].kind)
		b = binary.LittleEndian.AppendUint16(b, uint16(len(recs[i].key)))
		b = binary.LittleEndian.AppendUint64(b, uint64(recs[i].size))
		b = append(b, recs[i].key...)
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// decodeSidecar parses a sidecar index of pack id whose size is size. The
// records it returns carry no SHA-256 or CRC (they are in the pack).
func decodeSidecar(b []byte, id uint64, size int64) ([]record, error) {
	bad := errors.New("damaged sidecar index")
	if len(b) < 36 || !bytes.Equal(b[:8], idxMagic[:]) ||
		binary.LittleEndian.Uint32(b[len(b)-4:]) != crc32.Checksum(b[:len(b)-4], castagnoli) {
		return nil, bad
	}
	if binary.LittleEndian.Uint64(b[8:]) != id || int64(binary.LittleEndian.Uint64(b[16:])) != size {
		return nil, errors.New("sidecar index of another pack or size")
	}
	count := binary.LittleEndian.Uint64(b[24:])
	body := b[32 : len(b)-4]
	if count > uint64(len(body))/11 {
		return nil, bad
	}
	recs := make([]record, 0, count)
	off := int64(packHeaderLen)
	for range count {
		if len(body) < 11 {
			return nil, bad
		}
		r := record{kind: body[0], off: off}
		klen := int(binary.LittleEndian.Uint16(body[1:]))
		sz := binary.LittleEndian.Uint64(body[3:])
		body = body[11:]
		if len(body) < klen || sz > 1<<62 || (r.kind != kindPut && r.kind != kindDelete) {
			return nil, bad
		}
		r.key, r.size = string(body[:klen]), int64(sz)
		body = body[klen:]
		if !ValidKey(r.key) {
			return nil, bad
		}
		off += r.len()
		recs = append(recs, r)
	}
	if len(body) != 0 || off != size {
		return nil, bad
	}
	return recs, nil
}

// packObject is an object stored in a pack.
type packObject struct {
	*io.SectionReader
	d    *Dir
	p    *pack
	once sync.Once
}

func (o *packObject) Close() error {
	o.once.Do(func() { o.d.release(o.p) })
	return nil
}
