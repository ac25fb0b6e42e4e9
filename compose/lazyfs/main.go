// Command lazyfs mounts a backing folder through FUSE so that a simulated
// power loss loses every write that was not fsynced.
//
//	lazyfs -backing /data/kafka-1/log.backing -mount /data/kafka-1/log
//
// Writes reach the backing folder at once (reads and the page cache need
// nothing special); what is not durable yet is kept as an undo record in
// memory (see image.go for the rules). Control is by signal and, with
// -watch-stdin, by line commands on standard input:
//
//   - SIGUSR1: power loss. Every operation on the mount answers EIO from then
//     on, the backing folder is rewritten into what was durable, the mount is
//     detached and the layer exits 0. Processes still holding files of the
//     old mount only get errors (EIO, then ENOTCONN); mount again to go on.
//   - SIGUSR2: prints a status event (what a power loss would drop now).
//   - SIGTERM, SIGINT, or end of standard input (the harness died): a clean
//     unmount; everything written stays in the backing folder. With
//     -watch-stdin, SIGINT is ignored: a Ctrl-C reaches the whole process
//     group, and the harness unmounts after it stopped the writers.
//   - a line {"cmd":"faults","delay_ms":{"write":200},"jitter_ms":20,
//     "error_share":{"read":0.5}} replaces the injected IO faults (faults.go;
//     keys read, write, fsync, meta or all) and is answered by a faults
//     event with what is now set; {"cmd":"clear"} sets none;
//     {"cmd":"status"} is SIGUSR2. A bad command is answered by an error
//     event and changes nothing.
//
// Events go to standard output, one JSON object a line:
// {"event":"mounted"}, {"event":"status",...} (with the faults set and the
// operations delayed and failed so far, by kind), {"event":"faults",...},
// {"event":"error","message":...}, {"event":"power_loss",...},
// {"event":"unmounted"}; errors go to standard error (exit 1; 2 for bad usage).
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

var outMu sync.Mutex

func emit(event string, fields map[string]any) {
	obj := map[string]any{"event": event}
	for k, v := range fields {
		obj[k] = v
	}
	line, _ := json.Marshal(obj)
	outMu.Lock()
	defer outMu.Unlock()
	os.Stdout.Write(append(line, '\n'))
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "lazyfs: "+format+"\n", args...)
	os.Exit(1)
}

func main() {
	backing := flag.String("backing", "", "the backing folder (holds the data)")
	mount := flag.String("mount", "", "the mount point (an existing empty folder)")
	realSync := flag.Bool("real-sync", true, "also fsync the backing files on fsync")
	watchStdin := flag.Bool("watch-stdin", false, "unmount cleanly when standard input ends")
	debug := flag.Bool("debug", false, "log every FUSE request to standard error")
	flag.Parse()
	if *backing == "" || *mount == "" || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: lazyfs -backing DIR -mount DIR [-real-sync=false] [-watch-stdin]")
		os.Exit(2)
	}
	back, err := filepath.Abs(*backing)
	if err != nil {
		fail("%v", err)
	}
	mnt, err := filepath.Abs(*mount)
	if err != nil {
		fail("%v", err)
	}
	// Signals are caught before anything else, so one sent right after "mounted" is not fatal.
	signals := make(chan os.Signal, 4)
	signal.Notify(signals, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGTERM, syscall.SIGINT)
	if *watchStdin {
		signal.Ignore(syscall.SIGINT)
	}
	img, err := newImage(back)
	if err != nil {
		fail("cannot read the backing folder %s: %v", back, err)
	}
	lz := &lazy{img: img, realSync: *realSync}
	var st syscall.Stat_t
	if err := syscall.Stat(back, &st); err != nil {
		fail("%v", err)
	}
	root := &fs.LoopbackRoot{Path: back, Dev: uint64(st.Dev), NewNode: lz.newNode}
	root.RootNode = lz.newNode(root, nil, "", &st)
	second := time.Second
	server, err := fs.Mount(mnt, root.RootNode, &fs.Options{
		EntryTimeout:    &second,
		AttrTimeout:     &second,
		NegativeTimeout: &second,
		MountOptions: fuse.MountOptions{
			AllowOther:        true,
			DirectMountStrict: true,
			FsName:            back,
			Name:              "lazyfs",
			MaxWrite:          1 << 20,
			Options:           []string{"default_permissions"},
			Debug:             *debug,
		},
	})
	if err != nil {
		fail("cannot mount %s on %s: %v", back, mnt, err)
	}
	emit("mounted", map[string]any{"backing": back, "mount": mnt, "pid": os.Getpid()})

	stop := make(chan string, 1)
	if *watchStdin {
		go func() {
			lines := bufio.NewScanner(os.Stdin)
			lines.Buffer(make([]byte, 4096), 1<<20)
			for lines.Scan() {
				if len(lines.Bytes()) > 0 {
					lz.handle(lines.Bytes())
				}
			}
			if err := lines.Err(); err != nil {
				stop <- fmt.Sprintf("standard input failed: %v", err)
			}
			stop <- "stdin closed"
		}()
	}
	go func() {
		for sig := range signals {
			switch sig {
			case syscall.SIGUSR2:
				lz.emitStatus()
			case syscall.SIGUSR1:
				stop <- "power loss"
			default:
				stop <- sig.String()
			}
		}
	}()
	go func() {
		server.Wait()
		stop <- "unmounted from outside"
	}()

	why := <-stop
	if why == "power loss" {
		started := time.Now()
		lz.cut()
		report, err := img.powerLoss()
		detach(mnt)
		if err != nil {
			fail("power loss: %v", err)
		}
		emit("power_loss", map[string]any{
			"files_reverted": report.FilesReverted, "bytes_dropped": report.BytesDropped,
			"pages_restored": report.PagesRestored, "files_deleted": report.FilesDeleted,
			"files_restored": report.FilesRestored, "durable_entries": report.DurableEntries,
			"missing": report.Missing, "ms": time.Since(started).Milliseconds(),
		})
		os.Exit(0)
	}
	if why != "unmounted from outside" && server.Unmount() != nil {
		detach(mnt) // files are still open on it
	}
	_ = os.RemoveAll(filepath.Join(back, stageName))
	emit("unmounted", map[string]any{"why": why})
}

// detach takes the mount away even while files are open on it; the kernel ends the
// connection once the last of them is closed or this process exits.
func detach(mount string) {
	if err := syscall.Unmount(mount, syscall.MNT_DETACH); err != nil {
		fmt.Fprintf(os.Stderr, "lazyfs: detaching %s: %v\n", mount, err)
	}
}
