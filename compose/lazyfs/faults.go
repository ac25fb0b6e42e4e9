package main

// Injected IO faults: added latency and EIO, per kind of operation, set and
// cleared while the layer runs (line commands on standard input, see main.go).
//
// Operations come in four kinds: read (reads of file data), write (writes,
// truncates, fallocate), fsync (fsync and fdatasync of files and folders) and
// meta (everything else that reaches the layer: lookup, getattr, open,
// create, readdir, mkdir, rename, unlink, flush...). "all" names the four.
// A delay is slept before the operation (it then runs as usual); an error
// answers EIO instead of running it, for a share of the operations of its
// kinds (1: every one). An operation both delayed and failed is delayed
// first. Every delayed and every failed operation is counted, by kind: the
// evidence that a fault had its effect.
//
// With no faults set, an operation costs one atomic load more.

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"syscall"
	"time"
)

type opKind int

const (
	opRead opKind = iota
	opWrite
	opFsync
	opMeta
	nKinds
)

var kindNames = [nKinds]string{"read", "write", "fsync", "meta"}

// maxDelay bounds a delay (and delay plus jitter): beyond it the kernel's own
// request timeouts and the harness's waits would decide what happens, not the fault.
const maxDelay = 60 * time.Second

// ioFaults is one set of faults; it is never changed once published.
type ioFaults struct {
	delay    [nKinds]time.Duration
	jitter   time.Duration // a delay is drawn uniformly in [delay-jitter, delay+jitter], at least 0
	errShare [nKinds]float64
}

// faultSpec is a faults command as sent (and echoed back): maps keyed by kind or "all".
type faultSpec struct {
	DelayMs    map[string]float64 `json:"delay_ms,omitempty"`
	JitterMs   float64            `json:"jitter_ms,omitempty"`
	ErrorShare map[string]float64 `json:"error_share,omitempty"`
}

// kindsOf is the kinds a key names: one kind, or the four for "all".
func kindsOf(key string) ([]opKind, error) {
	if key == "all" {
		return []opKind{opRead, opWrite, opFsync, opMeta}, nil
	}
	for k, name := range kindNames {
		if name == key {
			return []opKind{opKind(k)}, nil
		}
	}
	return nil, fmt.Errorf("unknown kind of operation %q (read, write, fsync, meta or all)", key)
}

// compile checks a spec and makes the faults it asks for; nil when it asks for none.
// A kind named alone wins over "all" whatever the order.
func (s faultSpec) compile() (*ioFaults, error) {
	f := &ioFaults{}
	if s.JitterMs < 0 || s.JitterMs > float64(maxDelay/time.Millisecond) {
		return nil, fmt.Errorf("jitter_ms %v is not within 0..%d", s.JitterMs, maxDelay/time.Millisecond)
	}
	f.jitter = time.Duration(s.JitterMs * float64(time.Millisecond))
	some := false
	for _, pass := range []bool{true, false} { // "all" first, then the kinds named alone
		for key, ms := range s.DelayMs {
			if (key == "all") != pass {
				continue
			}
			kinds, err := kindsOf(key)
			if err != nil {
				return nil, fmt.Errorf("delay_ms: %w", err)
			}
			if ms < 0 || time.Duration(ms*float64(time.Millisecond))+f.jitter > maxDelay {
				return nil, fmt.Errorf("delay_ms.%s %v is not within 0..%d (with the jitter)", key, ms, maxDelay/time.Millisecond)
			}
			for _, k := range kinds {
				f.delay[k] = time.Duration(ms * float64(time.Millisecond))
				some = some || ms > 0
			}
		}
		for key, share := range s.ErrorShare {
			if (key == "all") != pass {
				continue
			}
			kinds, err := kindsOf(key)
			if err != nil {
				return nil, fmt.Errorf("error_share: %w", err)
			}
			if !(share >= 0 && share <= 1) {
				return nil, fmt.Errorf("error_share.%s %v is not within 0..1", key, share)
			}
			for _, k := range kinds {
				f.errShare[k] = share
				some = some || share > 0
			}
		}
	}
	if !some {
		return nil, nil
	}
	return f, nil
}

// spec is what f does, by kind (kinds with nothing left out).
func (f *ioFaults) spec() faultSpec {
	s := faultSpec{DelayMs: map[string]float64{}, ErrorShare: map[string]float64{}}
	if f == nil {
		return s
	}
	for k := range nKinds {
		if f.delay[k] > 0 {
			s.DelayMs[kindNames[k]] = float64(f.delay[k]) / float64(time.Millisecond)
		}
		if f.errShare[k] > 0 {
			s.ErrorShare[kindNames[k]] = f.errShare[k]
		}
	}
	s.JitterMs = float64(f.jitter) / float64(time.Millisecond)
	return s
}

// counters counts the operations delayed and failed by kind, since the layer started.
type counters struct {
	delayed [nKinds]atomic.Int64
	failed  [nKinds]atomic.Int64
}

func (c *counters) snapshot() (delayed, failed map[string]int64) {
	delayed, failed = map[string]int64{}, map[string]int64{}
	for k := range nKinds {
		delayed[kindNames[k]] = c.delayed[k].Load()
		failed[kindNames[k]] = c.failed[k].Load()
	}
	return delayed, failed
}

// fault applies the faults set now to one operation of kind k: sleeps its delay, and answers
// EIO if it fails (0: run it).
func (lz *lazy) fault(k opKind) syscall.Errno {
	f := lz.faults.Load()
	if f == nil {
		return 0
	}
	if d := f.delay[k]; d > 0 {
		if f.jitter > 0 {
			d += time.Duration(rand.Int64N(int64(2*f.jitter)+1)) - f.jitter
		}
		if d > 0 {
			time.Sleep(d)
		}
		lz.count.delayed[k].Add(1)
	}
	if s := f.errShare[k]; s > 0 && (s >= 1 || rand.Float64() < s) {
		lz.count.failed[k].Add(1)
		return syscall.EIO
	}
	return 0
}

// command is one line of standard input.
type command struct {
	Cmd string `json:"cmd"`
	faultSpec
}

// handle runs one command line: "faults" (replaces the faults set), "clear" or "status".
func (lz *lazy) handle(line []byte) {
	var c command
	if err := json.Unmarshal(line, &c); err != nil {
		emit("error", map[string]any{"message": fmt.Sprintf("a command that is not JSON: %v", err)})
		return
	}
	switch c.Cmd {
	case "faults", "clear":
		spec := c.faultSpec
		if c.Cmd == "clear" {
			spec = faultSpec{}
		}
		f, err := spec.compile()
		if err != nil {
			emit("error", map[string]any{"message": err.Error()})
			return
		}
		lz.faults.Store(f)
		emit("faults", map[string]any{"faults": f.spec()})
	case "status":
		lz.emitStatus()
	default:
		emit("error", map[string]any{"message": fmt.Sprintf("unknown command %q (faults, clear, status)", c.Cmd)})
	}
}

// emitStatus prints what a power loss would drop now, the faults set and the counters.
func (lz *lazy) emitStatus() {
	files, bytes := lz.img.unsynced()
	delayed, failed := lz.count.snapshot()
	emit("status", map[string]any{
		"unsynced_files": files, "unsynced_bytes": bytes,
		"faults": lz.faults.Load().spec(), "delayed": delayed, "failed": failed,
	})
}
