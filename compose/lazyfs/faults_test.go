package main

import (
	"testing"
	"time"
)

func TestCompile(t *testing.T) {
	f, err := faultSpec{DelayMs: map[string]float64{"all": 5, "write": 200}, JitterMs: 10}.compile()
	if err != nil {
		t.Fatal(err)
	}
	if f.delay[opWrite] != 200*time.Millisecond || f.delay[opRead] != 5*time.Millisecond {
		t.Fatalf("a kind named alone wins over all: %v", f.delay)
	}
	if f.jitter != 10*time.Millisecond {
		t.Fatalf("jitter %v", f.jitter)
	}
	if f, err := (faultSpec{ErrorShare: map[string]float64{"write": 0}}).compile(); f != nil || err != nil {
		t.Fatalf("nothing asked: no faults, got %v %v", f, err)
	}
	for _, bad := range []faultSpec{
		{DelayMs: map[string]float64{"writes": 1}},
		{DelayMs: map[string]float64{"write": -1}},
		{DelayMs: map[string]float64{"write": 59_000}, JitterMs: 2_000},
		{ErrorShare: map[string]float64{"read": 1.5}},
		{JitterMs: -1},
	} {
		if _, err := bad.compile(); err == nil {
			t.Fatalf("%+v was accepted", bad)
		}
	}
}

func TestFaultCounts(t *testing.T) {
	lz := &lazy{}
	if lz.fault(opWrite) != 0 {
		t.Fatal("no faults set, yet an error")
	}
	f, _ := faultSpec{ErrorShare: map[string]float64{"write": 1}, DelayMs: map[string]float64{"fsync": 1}}.compile()
	lz.faults.Store(f)
	if lz.fault(opWrite) == 0 || lz.fault(opRead) != 0 || lz.fault(opFsync) != 0 {
		t.Fatal("the wrong operations failed")
	}
	delayed, failed := lz.count.snapshot()
	if failed["write"] != 1 || failed["read"] != 0 || delayed["fsync"] != 1 || delayed["write"] != 0 {
		t.Fatalf("counts: delayed %v failed %v", delayed, failed)
	}
	if s := f.spec(); s.ErrorShare["write"] != 1 || s.DelayMs["fsync"] != 1 || len(s.DelayMs) != 1 {
		t.Fatalf("spec %+v", s)
	}
}
