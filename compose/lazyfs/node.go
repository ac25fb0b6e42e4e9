package main

// The FUSE side: a loopback file system over the backing folder (go-fuse's
// LoopbackNode) whose changing operations first record in the durable image
// what they are about to undo, and whose fsyncs make things durable. After a
// power loss every operation answers EIO until the layer exits.
//
// Files are opened read-write on the backing folder whatever the caller asked
// (the undo record reads a page before overwriting it), O_TRUNC is done as a
// recorded truncate, and the handles never use FUSE passthrough (the kernel
// would then write without telling the layer). Not supported: hard links,
// O_TMPFILE, fallocate modes that shift data (EOPNOTSUPP); copy_file_range
// answers ENOSYS so the kernel falls back to reads and writes.

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// lazy is the state every node shares.
type lazy struct {
	img *image
	// realSync makes an fsync also fsync the backing file.
	realSync bool
	gate     sync.RWMutex
	lost     atomic.Bool
	// faults are the IO faults injected now (nil: none), count what they did (faults.go).
	faults atomic.Pointer[ioFaults]
	count  counters
}

// enter admits one operation of kind k unless the power was lost or an injected fault
// fails it (after its injected delay, slept before the gate); leave ends it.
func (lz *lazy) enter(k opKind) syscall.Errno {
	if errno := lz.fault(k); errno != 0 {
		return errno
	}
	if !lz.admit() {
		return syscall.EIO
	}
	return 0
}

// admit admits one operation unless the power was lost.
func (lz *lazy) admit() bool {
	lz.gate.RLock()
	if lz.lost.Load() {
		lz.gate.RUnlock()
		return false
	}
	return true
}

func (lz *lazy) leave() { lz.gate.RUnlock() }

// cut waits for the operations in flight and refuses every later one.
func (lz *lazy) cut() {
	lz.gate.Lock()
	lz.lost.Store(true)
	lz.gate.Unlock()
}

type node struct {
	fs.LoopbackNode
	lz *lazy
}

func (lz *lazy) newNode(root *fs.LoopbackRoot, _ *fs.Inode, _ string, _ *syscall.Stat_t) fs.InodeEmbedder {
	return &node{LoopbackNode: fs.LoopbackNode{RootData: root}, lz: lz}
}

func (n *node) rel() string { return n.Path(n.Root()) }

func (n *node) isRoot() bool { return n.EmbeddedInode() == n.Root() }

func (n *node) childRel(name string) string { return filepath.Join(n.rel(), name) }

func (n *node) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if errno := n.lz.enter(opMeta); errno != 0 {
		return nil, errno
	}
	defer n.lz.leave()
	if n.isRoot() && name == stageName {
		return nil, syscall.ENOENT
	}
	return n.LoopbackNode.Lookup(ctx, name, out)
}

func (n *node) OpendirHandle(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	if errno := n.lz.enter(opMeta); errno != 0 {
		return nil, 0, errno
	}
	defer n.lz.leave()
	// A listing read at once: go-fuse's own folder handle would answer FSYNCDIR itself (and
	// the folder's entries would not become durable); the root's also hides the stage.
	ds, errno := n.LoopbackNode.Readdir(ctx)
	if errno != 0 {
		return nil, 0, errno
	}
	defer ds.Close()
	var list []fuse.DirEntry
	for ds.HasNext() {
		e, errno := ds.Next()
		if errno != 0 {
			return nil, 0, errno
		}
		if e.Name != stageName || !n.isRoot() {
			list = append(list, e)
		}
	}
	return fs.NewListDirStream(list), 0, 0
}

func (n *node) Readdir(ctx context.Context) (fs.DirStream, syscall.Errno) {
	ds, _, errno := n.OpendirHandle(ctx, 0)
	if errno != 0 {
		return nil, errno
	}
	return ds.(fs.DirStream), 0
}

func (n *node) Getattr(ctx context.Context, f fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	if errno := n.lz.enter(opMeta); errno != 0 {
		return errno
	}
	defer n.lz.leave()
	if lf, ok := f.(*file); ok {
		return lf.lf.Getattr(ctx, out)
	}
	return n.LoopbackNode.Getattr(ctx, nil, out)
}

// readWrite turns O_WRONLY into O_RDWR and takes O_TRUNC out (done as a recorded truncate),
// and O_DIRECT (the layer's buffers are not aligned; the kernel still sends such writes
// straight to the layer).
func readWrite(flags uint32) (uint32, bool) {
	trunc := flags&syscall.O_TRUNC != 0
	flags &^= syscall.O_TRUNC | syscall.O_DIRECT
	if flags&syscall.O_ACCMODE == syscall.O_WRONLY {
		flags = flags&^syscall.O_ACCMODE | syscall.O_RDWR
	}
	return flags, trunc
}

func (n *node) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	if errno := n.lz.enter(opMeta); errno != 0 {
		return nil, nil, 0, errno
	}
	defer n.lz.leave()
	rw, trunc := readWrite(flags)
	inode, fh, fuseFlags, errno := n.LoopbackNode.Create(ctx, name, rw, mode, out)
	if errno != 0 {
		return nil, nil, 0, errno
	}
	f, errno := n.lz.wrap(fh)
	if errno == 0 && trunc {
		errno = f.truncate(0)
	}
	if errno != 0 {
		fh.(fs.FileReleaser).Release(ctx)
		return nil, nil, 0, errno
	}
	return inode, f, fuseFlags, 0
}

func (n *node) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	if errno := n.lz.enter(opMeta); errno != 0 {
		return nil, 0, errno
	}
	defer n.lz.leave()
	rw, trunc := readWrite(flags)
	fh, fuseFlags, errno := n.LoopbackNode.Open(ctx, rw)
	if errno != 0 {
		return nil, 0, errno
	}
	f, errno := n.lz.wrap(fh)
	if errno == 0 && trunc {
		errno = f.truncate(0)
	}
	if errno != 0 {
		fh.(fs.FileReleaser).Release(ctx)
		return nil, 0, errno
	}
	return f, fuseFlags, 0
}

func (n *node) Setattr(ctx context.Context, f fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	kind := opMeta
	if _, ok := in.GetSize(); ok {
		kind = opWrite // a truncate
	}
	if errno := n.lz.enter(kind); errno != 0 {
		return errno
	}
	defer n.lz.leave()
	if size, ok := in.GetSize(); ok {
		lf, isOurs := f.(*file)
		if !isOurs {
			tmp, errno := n.lz.open(filepath.Join(n.RootData.Path, n.rel()), syscall.O_RDWR)
			if errno != 0 {
				return errno
			}
			defer tmp.lf.Release(ctx)
			lf = tmp
		}
		if errno := lf.truncate(int64(size)); errno != 0 {
			return errno
		}
		in.Valid &^= fuse.FATTR_SIZE
		if lf, ok := f.(*file); ok {
			f = lf.lf
		}
	} else if lf, ok := f.(*file); ok {
		f = lf.lf
	}
	return n.LoopbackNode.Setattr(ctx, f, in, out)
}

func (n *node) Unlink(ctx context.Context, name string) syscall.Errno {
	return n.remove(name, false)
}

func (n *node) Rmdir(ctx context.Context, name string) syscall.Errno {
	return n.remove(name, true)
}

func (n *node) remove(name string, dir bool) syscall.Errno {
	if errno := n.lz.enter(opMeta); errno != 0 {
		return errno
	}
	defer n.lz.leave()
	img := n.lz.img
	img.mu.Lock()
	defer img.mu.Unlock()
	return fs.ToErrno(img.remove(n.childRel(name), dir))
}

func (n *node) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	if errno := n.lz.enter(opMeta); errno != 0 {
		return errno
	}
	defer n.lz.leave()
	target, ok := newParent.(*node)
	if !ok {
		return syscall.EXDEV
	}
	img := n.lz.img
	img.mu.Lock()
	defer img.mu.Unlock()
	const exchange = 2 // RENAME_EXCHANGE: both names stay, nothing is replaced
	from, err := lstatIno(img.abs(n.childRel(name)))
	if err != nil {
		return fs.ToErrno(err)
	}
	to := img.abs(target.childRel(newName))
	replaced, err := lstatIno(to)
	if flags&exchange != 0 || err != nil || replaced.Ino == from.Ino {
		return n.LoopbackNode.Rename(ctx, name, &target.LoopbackNode, newName, flags)
	}
	// What the rename replaces: kept in the stage if durable, else its inode is freed.
	staged, err := img.stage(to)
	if err != nil {
		return fs.ToErrno(err)
	}
	errno := n.LoopbackNode.Rename(ctx, name, &target.LoopbackNode, newName, flags)
	switch {
	case errno != 0 && staged:
		_ = syscall.Rename(img.stagePath(replaced.Ino), to)
	case errno == 0 && !staged && replaced.Nlink <= 1:
		delete(img.files, replaced.Ino)
	}
	return errno
}

func (n *node) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if errno := n.lz.enter(opMeta); errno != 0 {
		return nil, errno
	}
	defer n.lz.leave()
	return n.LoopbackNode.Mkdir(ctx, name, mode, out)
}

func (n *node) Mknod(ctx context.Context, name string, mode, rdev uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if errno := n.lz.enter(opMeta); errno != 0 {
		return nil, errno
	}
	defer n.lz.leave()
	return n.LoopbackNode.Mknod(ctx, name, mode, rdev, out)
}

func (n *node) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if errno := n.lz.enter(opMeta); errno != 0 {
		return nil, errno
	}
	defer n.lz.leave()
	return n.LoopbackNode.Symlink(ctx, target, name, out)
}

// Link is refused: an inode has one durable name in this layer.
func (n *node) Link(context.Context, fs.InodeEmbedder, string, *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return nil, syscall.EOPNOTSUPP
}

func (n *node) Tmpfile(context.Context, uint32, uint32, *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	return nil, nil, 0, syscall.EOPNOTSUPP
}

func (n *node) CopyFileRange(context.Context, fs.FileHandle, uint64, *fs.Inode, fs.FileHandle, uint64, uint64, uint64) (uint32, syscall.Errno) {
	return 0, syscall.ENOSYS
}

// Fsync of a file makes its bytes and its path durable; of a folder, its entries too.
// fdatasync counts the same.
func (n *node) Fsync(ctx context.Context, f fs.FileHandle, flags uint32) syscall.Errno {
	if errno := n.lz.enter(opFsync); errno != 0 {
		return errno
	}
	defer n.lz.leave()
	img := n.lz.img
	rel := n.rel()
	if n.StableAttr().Mode&syscall.S_IFMT == syscall.S_IFDIR {
		if n.lz.realSync {
			if fd, err := syscall.Open(img.abs(rel), syscall.O_RDONLY|syscall.O_DIRECTORY, 0); err == nil {
				_ = syscall.Fsync(fd)
				syscall.Close(fd)
			}
		}
		return fs.ToErrno(img.syncDir(rel))
	}
	lf, ok := f.(*file)
	if !ok {
		tmp, errno := n.lz.open(img.abs(rel), syscall.O_RDONLY)
		if errno != 0 {
			return errno
		}
		defer tmp.lf.Release(ctx)
		lf = tmp
	}
	if errno := lf.sync(flags&1 != 0); errno != 0 {
		return errno
	}
	if _, parent := n.Parent(); parent == nil {
		return 0 // unlinked while open: its bytes are durable, it has no name to keep
	}
	if err := img.syncPath(rel); err != nil && !errors.Is(err, syscall.ENOENT) {
		return fs.ToErrno(err) // ENOENT: renamed or unlinked meanwhile
	}
	return 0
}

// file is an open file: the loopback handle plus its backing descriptor and undo record.
type file struct {
	lf *fs.LoopbackFile
	fd int
	lz *lazy
	st *fileState
}

// open opens path for an operation that came without a handle of ours (a setattr or fsync by
// path); the caller releases it.
func (lz *lazy) open(path string, flags int) (*file, syscall.Errno) {
	fd, err := syscall.Open(path, flags, 0)
	if err != nil {
		return nil, fs.ToErrno(err)
	}
	f, errno := lz.wrap(fs.NewLoopbackFile(fd))
	if errno != 0 {
		syscall.Close(fd)
	}
	return f, errno
}

func (lz *lazy) wrap(fh fs.FileHandle) (*file, syscall.Errno) {
	lf, ok := fh.(*fs.LoopbackFile)
	if !ok {
		return nil, syscall.EIO
	}
	fd, ok := lf.PassthroughFd() // only to learn the descriptor: passthrough stays off
	if !ok {
		return nil, syscall.EBADF
	}
	var stat syscall.Stat_t
	if err := syscall.Fstat(fd, &stat); err != nil {
		return nil, fs.ToErrno(err)
	}
	f := &file{lf: lf, fd: fd, lz: lz}
	if stat.Mode&syscall.S_IFMT == syscall.S_IFREG {
		st, err := lz.img.state(stat.Ino, fd)
		if err != nil {
			return nil, fs.ToErrno(err)
		}
		f.st = st
	}
	return f, 0
}

func (f *file) Read(ctx context.Context, buf []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	if errno := f.lz.enter(opRead); errno != 0 {
		return nil, errno
	}
	defer f.lz.leave()
	return f.lf.Read(ctx, buf, off)
}

func (f *file) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	if errno := f.lz.enter(opWrite); errno != 0 {
		return 0, errno
	}
	defer f.lz.leave()
	if f.st == nil {
		return f.lf.Write(ctx, data, off)
	}
	f.st.mu.Lock()
	defer f.st.mu.Unlock()
	if err := f.st.saveRange(f.fd, off, off+int64(len(data))); err != nil {
		return 0, fs.ToErrno(err)
	}
	n, err := syscall.Pwrite(f.fd, data, off)
	if err != nil {
		return 0, fs.ToErrno(err)
	}
	f.st.liveSize = max(f.st.liveSize, off+int64(n))
	return uint32(n), 0
}

// truncate cuts or extends the file to size, keeping the durable pages it cuts off.
func (f *file) truncate(size int64) syscall.Errno {
	if f.st == nil {
		return fs.ToErrno(syscall.Ftruncate(f.fd, size))
	}
	f.st.mu.Lock()
	defer f.st.mu.Unlock()
	if err := f.st.saveRange(f.fd, size, f.st.durSize); err != nil {
		return fs.ToErrno(err)
	}
	if err := syscall.Ftruncate(f.fd, size); err != nil {
		return fs.ToErrno(err)
	}
	f.st.liveSize = size
	return 0
}

func (f *file) sync(dataOnly bool) syscall.Errno {
	if f.lz.realSync {
		var err error
		if dataOnly {
			err = syscall.Fdatasync(f.fd)
		} else {
			err = syscall.Fsync(f.fd)
		}
		if err != nil {
			return fs.ToErrno(err)
		}
	}
	if f.st == nil {
		return 0
	}
	f.st.mu.Lock()
	defer f.st.mu.Unlock()
	return fs.ToErrno(f.st.synced(f.fd))
}

func (f *file) Allocate(ctx context.Context, off uint64, size uint64, mode uint32) syscall.Errno {
	if errno := f.lz.enter(opWrite); errno != 0 {
		return errno
	}
	defer f.lz.leave()
	const keepSize, punchHole, zeroRange = 0x01, 0x02, 0x10
	if mode&^(keepSize|punchHole|zeroRange) != 0 {
		return syscall.EOPNOTSUPP // collapse and insert shift data
	}
	if f.st != nil {
		f.st.mu.Lock()
		defer f.st.mu.Unlock()
		if mode&(punchHole|zeroRange) != 0 {
			if err := f.st.saveRange(f.fd, int64(off), int64(off+size)); err != nil {
				return fs.ToErrno(err)
			}
		}
	}
	errno := f.lf.Allocate(ctx, off, size, mode)
	if errno == 0 && f.st != nil && mode&keepSize == 0 {
		f.st.liveSize = max(f.st.liveSize, int64(off+size))
	}
	return errno
}

func (f *file) Release(ctx context.Context) syscall.Errno { return f.lf.Release(ctx) }

func (f *file) Flush(ctx context.Context) syscall.Errno {
	if errno := f.lz.enter(opMeta); errno != 0 {
		return errno
	}
	defer f.lz.leave()
	return f.lf.Flush(ctx)
}

func (f *file) Getattr(ctx context.Context, out *fuse.AttrOut) syscall.Errno {
	if errno := f.lz.fault(opMeta); errno != 0 {
		return errno
	}
	return f.lf.Getattr(ctx, out)
}

func (f *file) Statx(ctx context.Context, flags uint32, mask uint32, out *fuse.StatxOut) syscall.Errno {
	if errno := f.lz.fault(opMeta); errno != 0 {
		return errno
	}
	return f.lf.Statx(ctx, flags, mask, out)
}

func (f *file) Lseek(ctx context.Context, off uint64, whence uint32) (uint64, syscall.Errno) {
	return f.lf.Lseek(ctx, off, whence)
}
