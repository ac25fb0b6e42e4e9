package main

// The durable image: what a backing folder would hold after a power loss.
//
// The live data lives in the backing folder itself (every write goes straight
// through, so reads and the kernel's page cache need nothing special). What
// is not durable yet is remembered as an undo record:
//
//   - data: for each file changed since its last fsync, the size it had then
//     and the original bytes of every durable page overwritten (or cut off by
//     a truncate) since;
//   - names: the durable directory tree, inode by inode. A name is durable
//     once its directory was fsynced, or once the file it names was fsynced
//     (as on ext4, fsync of a file commits the path that reaches it); an
//     inode has at most one durable name, the last made durable.
//
// A file unlinked (or replaced by a rename) while it still has a durable name
// is not deleted but moved into the stage folder `.lazyfs` at the backing
// root (hidden from the mount), so a power loss can bring it back.
//
// Power loss rewrites the backing folder into the durable image: every live
// file is moved into the stage by inode, its undone pages written back and its
// size cut to the durable size; the live folders are removed; the durable
// tree is made again and each durable file moved to its durable name; what is
// left in the stage (never durable) is deleted.

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

const pageSize = 4096

// stageName is the hidden folder, at the backing root, that keeps removed durable files.
const stageName = ".lazyfs"

// fileState is the undo record of one file (by backing inode) changed since its last fsync.
type fileState struct {
	mu sync.Mutex
	// durSize is the file's size at its last fsync (or when first changed, if never fsynced).
	durSize int64
	// undo holds, by page index, the durable bytes of a page before its first change since the
	// last fsync; only pages that start below durSize are kept.
	undo map[int64][]byte
	// liveSize is the file's size as last written or truncated through the mount.
	liveSize int64
}

// dirMeta is what a durable folder is made again with.
type dirMeta struct{ mode, uid, gid uint32 }

func metaOf(st *syscall.Stat_t) dirMeta { return dirMeta{st.Mode & 0o7777, st.Uid, st.Gid} }

type dentry struct {
	parent uint64
	name   string
}

// image is the durable image of one backing folder.
type image struct {
	backing  string
	stageDir string

	mu       sync.Mutex
	files    map[uint64]*fileState        // inode → undo record (files changed since mount)
	named    map[uint64]dentry            // inode → its durable name (the root has none)
	children map[uint64]map[string]uint64 // durable folder inode → durable entries
	dirMeta  map[uint64]dirMeta           // durable folder inode → its mode and owner
	rootIno  uint64
}

func lstatIno(path string) (syscall.Stat_t, error) {
	var st syscall.Stat_t
	err := syscall.Lstat(path, &st)
	return st, err
}

// newImage scans the backing folder: everything in it at mount time is durable.
func newImage(backing string) (*image, error) {
	img := &image{
		backing:  backing,
		stageDir: filepath.Join(backing, stageName),
		files:    map[uint64]*fileState{},
		named:    map[uint64]dentry{},
		children: map[uint64]map[string]uint64{},
		dirMeta:  map[uint64]dirMeta{},
	}
	// A stage left by a layer that died is garbage: the live tree is what the writers saw.
	if err := os.RemoveAll(img.stageDir); err != nil {
		return nil, fmt.Errorf("cannot clear %s: %w", img.stageDir, err)
	}
	if err := os.Mkdir(img.stageDir, 0o700); err != nil {
		return nil, fmt.Errorf("cannot make %s: %w", img.stageDir, err)
	}
	root, err := lstatIno(backing)
	if err != nil {
		return nil, err
	}
	img.rootIno = root.Ino
	img.children[root.Ino] = map[string]uint64{}
	img.dirMeta[root.Ino] = metaOf(&root)
	err = filepath.WalkDir(backing, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if path == backing {
			return nil
		}
		if path == img.stageDir {
			return filepath.SkipDir
		}
		st, err := lstatIno(path)
		if err != nil {
			return err
		}
		parent, err := lstatIno(filepath.Dir(path))
		if err != nil {
			return err
		}
		img.children[parent.Ino][filepath.Base(path)] = st.Ino
		img.named[st.Ino] = dentry{parent.Ino, filepath.Base(path)}
		if d.IsDir() {
			img.children[st.Ino] = map[string]uint64{}
			img.dirMeta[st.Ino] = metaOf(&st)
		}
		return nil
	})
	return img, err
}

func (img *image) abs(rel string) string { return filepath.Join(img.backing, rel) }

func (img *image) stagePath(ino uint64) string {
	return filepath.Join(img.stageDir, strconv.FormatUint(ino, 10))
}

// state returns the undo record of inode ino, made on its first change: the file then still
// holds what it held at mount (or nothing, if it was made since), which is durable.
func (img *image) state(ino uint64, fd int) (*fileState, error) {
	img.mu.Lock()
	defer img.mu.Unlock()
	if st, ok := img.files[ino]; ok {
		return st, nil
	}
	var stat syscall.Stat_t
	if err := syscall.Fstat(fd, &stat); err != nil {
		return nil, err
	}
	st := &fileState{durSize: stat.Size, liveSize: stat.Size}
	img.files[ino] = st
	return st, nil
}

// saveRange keeps the durable bytes of every page overlapping [from, to) not yet kept, read
// 64 pages at a time; a page of zeros (a preallocated index, a hole) is kept as nil. The
// caller holds st.mu and fd is readable.
func (st *fileState) saveRange(fd int, from, to int64) error {
	to = min(to, st.durSize)
	if from >= to {
		return nil
	}
	if st.undo == nil {
		st.undo = map[int64][]byte{}
	}
	const chunkPages = 64
	var chunk []byte
	for first := from / pageSize; first*pageSize < to; first += chunkPages {
		last := min(first+chunkPages, (to+pageSize-1)/pageSize) // exclusive
		missing := false
		for page := first; page < last && !missing; page++ {
			_, saved := st.undo[page]
			missing = !saved
		}
		if !missing {
			continue
		}
		length := min((last-first)*pageSize, st.durSize-first*pageSize)
		if chunk == nil {
			chunk = make([]byte, chunkPages*pageSize)
		}
		n, err := syscall.Pread(fd, chunk[:length], first*pageSize)
		if err != nil {
			return err
		}
		for page := first; page < last; page++ {
			if _, saved := st.undo[page]; saved {
				continue
			}
			at := (page - first) * pageSize
			end := min(at+pageSize, int64(n))
			if at >= end || isZero(chunk[at:end]) {
				st.undo[page] = nil // zeros (or past what is there now, zeros after the truncate)
			} else {
				st.undo[page] = append([]byte(nil), chunk[at:end]...)
			}
		}
	}
	return nil
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// undoBytes is what page must hold again: its saved bytes, or zeros up to the durable size.
func (st *fileState) undoBytes(page int64, saved []byte) []byte {
	if saved != nil {
		return saved
	}
	return make([]byte, max(0, min(pageSize, st.durSize-page*pageSize)))
}

// synced records that the file is durable as it is now (its size read from fd).
func (st *fileState) synced(fd int) error {
	var stat syscall.Stat_t
	if err := syscall.Fstat(fd, &stat); err != nil {
		return err
	}
	st.durSize = stat.Size
	st.liveSize = stat.Size
	st.undo = nil
	return nil
}

// setEntry makes name in folder dir durably name inode ino (the caller holds img.mu).
func (img *image) setEntry(dir uint64, name string, st *syscall.Stat_t) {
	ino := st.Ino
	isDir := st.Mode&syscall.S_IFMT == syscall.S_IFDIR
	entries := img.children[dir]
	if old, ok := entries[name]; ok {
		if old == ino {
			return
		}
		img.dropName(old)
	}
	if old, ok := img.named[ino]; ok {
		delete(img.children[old.parent], old.name)
	}
	entries[name] = ino
	img.named[ino] = dentry{dir, name}
	if isDir {
		if _, ok := img.children[ino]; !ok {
			img.children[ino] = map[string]uint64{}
		}
		img.dirMeta[ino] = metaOf(st)
	}
}

// dropName forgets the durable name of ino; a staged file left with no name is deleted.
func (img *image) dropName(ino uint64) {
	if d, ok := img.named[ino]; ok {
		delete(img.children[d.parent], d.name)
		delete(img.named, ino)
	}
	if err := os.Remove(img.stagePath(ino)); err == nil {
		delete(img.files, ino)
	}
}

// syncPath makes every name on the way from the root to rel durable (after fsync of rel).
func (img *image) syncPath(rel string) error {
	img.mu.Lock()
	defer img.mu.Unlock()
	return img.syncPathLocked(rel)
}

func (img *image) syncPathLocked(rel string) error {
	dir := img.rootIno
	path := img.backing
	for _, part := range strings.Split(filepath.Clean(rel), "/") {
		if part == "" || part == "." {
			continue
		}
		path = filepath.Join(path, part)
		st, err := lstatIno(path)
		if err != nil {
			return err
		}
		img.setEntry(dir, part, &st)
		dir = st.Ino
	}
	return nil
}

// syncDir makes the entries of folder rel durable as they are now (after fsync of rel).
func (img *image) syncDir(rel string) error {
	img.mu.Lock()
	defer img.mu.Unlock()
	if err := img.syncPathLocked(rel); err != nil {
		return err
	}
	path := img.abs(rel)
	st, err := lstatIno(path)
	if err != nil {
		return err
	}
	list, err := os.ReadDir(path)
	if err != nil {
		return err
	}
	live := map[string]bool{}
	for _, e := range list {
		if path == img.backing && e.Name() == stageName {
			continue
		}
		child, err := lstatIno(filepath.Join(path, e.Name()))
		if err != nil {
			return err
		}
		live[e.Name()] = true
		img.setEntry(st.Ino, e.Name(), &child)
	}
	for name, ino := range img.children[st.Ino] {
		if !live[name] {
			img.dropName(ino)
		}
	}
	return nil
}

// hasName tells whether inode ino has a durable name (the caller holds img.mu).
func (img *image) hasName(ino uint64) bool {
	_, ok := img.named[ino]
	return ok
}

// stage moves the entry at path into the stage if it has a durable name (a folder only when
// empty), so that its inode is not reused and a power loss can bring it back; it tells
// whether it did. The caller holds img.mu.
func (img *image) stage(path string) (bool, error) {
	st, err := lstatIno(path)
	if err != nil || !img.hasName(st.Ino) {
		return false, err
	}
	if st.Mode&syscall.S_IFMT == syscall.S_IFDIR {
		entries, err := os.ReadDir(path)
		if err != nil {
			return false, err
		}
		if len(entries) > 0 {
			return false, syscall.ENOTEMPTY
		}
	}
	return true, syscall.Rename(path, img.stagePath(st.Ino))
}

// remove takes the entry at rel out of the live tree (unlink or rmdir): into the stage if it
// has a durable name, deleted otherwise. The caller holds img.mu.
func (img *image) remove(rel string, dir bool) error {
	path := img.abs(rel)
	st, err := lstatIno(path)
	if err != nil {
		return err
	}
	if isDir := st.Mode&syscall.S_IFMT == syscall.S_IFDIR; isDir != dir {
		if dir {
			return syscall.ENOTDIR
		}
		return syscall.EISDIR
	}
	if staged, err := img.stage(path); staged || err != nil {
		return err
	}
	if dir {
		return syscall.Rmdir(path)
	}
	if err := syscall.Unlink(path); err != nil {
		return err
	}
	if st.Nlink <= 1 {
		delete(img.files, st.Ino) // its inode is free again and may be reused
	}
	return nil
}

// lossReport says what a power loss threw away.
type lossReport struct {
	FilesReverted  int   `json:"files_reverted"`
	BytesDropped   int64 `json:"bytes_dropped"`
	PagesRestored  int   `json:"pages_restored"`
	FilesDeleted   int   `json:"files_deleted"`
	FilesRestored  int   `json:"files_restored"`
	DurableEntries int   `json:"durable_entries"`
	Missing        int   `json:"missing"`
}

// powerLoss rewrites the backing folder into the durable image. Nothing else may touch the
// backing folder meanwhile (the mount answers EIO by then).
func (img *image) powerLoss() (lossReport, error) {
	img.mu.Lock()
	defer img.mu.Unlock()
	var report lossReport
	// 1. Every live non-folder into the stage, by inode.
	var dirs []string
	err := filepath.WalkDir(img.backing, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if path == img.stageDir {
			return filepath.SkipDir
		}
		if d.IsDir() {
			if path != img.backing {
				dirs = append(dirs, path)
			}
			return nil
		}
		st, err := lstatIno(path)
		if err != nil {
			return err
		}
		target := img.stagePath(st.Ino)
		if _, err := os.Lstat(target); err == nil {
			return os.Remove(path) // another link of a staged inode
		}
		return os.Rename(path, target)
	})
	if err != nil {
		return report, fmt.Errorf("staging the live files: %w", err)
	}
	// 2. Each changed file back to its durable bytes and size.
	for ino, st := range img.files {
		path := img.stagePath(ino)
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return report, err
		}
		info, err := f.Stat()
		if err == nil && info.Mode().IsRegular() {
			report.FilesReverted++
			report.BytesDropped += max(0, info.Size()-st.durSize)
			for page, saved := range st.undo {
				if saved == nil && page*pageSize >= info.Size() {
					continue // zeros past the end: the truncate to the durable size makes them
				}
				if _, err = f.WriteAt(st.undoBytes(page, saved), page*pageSize); err != nil {
					break
				}
				report.PagesRestored++
			}
			if err == nil {
				err = f.Truncate(st.durSize)
			}
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return report, fmt.Errorf("reverting %s: %w", path, err)
		}
	}
	// 3. The live folders go (deepest first; only folders are left in them).
	sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
	for _, dir := range dirs {
		if err := os.Remove(dir); err != nil {
			return report, fmt.Errorf("removing %s: %w", dir, err)
		}
	}
	// 4. The durable tree again.
	var build func(dir uint64, path string) error
	build = func(dir uint64, path string) error {
		names := make([]string, 0, len(img.children[dir]))
		for name := range img.children[dir] {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			ino := img.children[dir][name]
			target := filepath.Join(path, name)
			report.DurableEntries++
			if _, isDir := img.children[ino]; isDir {
				meta := img.dirMeta[ino]
				if err := syscall.Mkdir(target, meta.mode); err != nil {
					return err
				}
				_ = syscall.Chmod(target, meta.mode) // past the umask
				_ = syscall.Lchown(target, int(meta.uid), int(meta.gid))
				if err := build(ino, target); err != nil {
					return err
				}
				continue
			}
			if err := os.Rename(img.stagePath(ino), target); err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					report.Missing++
					continue
				}
				return err
			}
			report.FilesRestored++
		}
		return nil
	}
	if err := build(img.rootIno, img.backing); err != nil {
		return report, fmt.Errorf("rebuilding the durable tree: %w", err)
	}
	// 5. What never was durable goes.
	left, err := os.ReadDir(img.stageDir)
	if err != nil {
		return report, err
	}
	for _, e := range left {
		report.FilesDeleted++
		if err := os.RemoveAll(filepath.Join(img.stageDir, e.Name())); err != nil {
			return report, err
		}
	}
	img.files = map[uint64]*fileState{}
	return report, os.Remove(img.stageDir)
}

// unsynced sums what a power loss would drop now: the files changed since their last fsync
// and their bytes past the durable size plus the durable pages overwritten.
func (img *image) unsynced() (files int, bytes int64) {
	img.mu.Lock()
	states := make([]*fileState, 0, len(img.files))
	for _, st := range img.files {
		states = append(states, st)
	}
	img.mu.Unlock()
	for _, st := range states {
		st.mu.Lock()
		dirty := max(0, st.liveSize-st.durSize) + int64(len(st.undo))*pageSize
		st.mu.Unlock()
		if dirty > 0 {
			files++
			bytes += dirty
		}
	}
	return files, bytes
}
