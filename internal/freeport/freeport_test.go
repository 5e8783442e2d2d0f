package freeport

import (
	"net"
	"strconv"
	"testing"
)

func TestCandidates(t *testing.T) {
	for _, c := range []struct {
		elo, ehi, lo, hi int
	}{
		{32768, 60999, lowest, 32767}, // Linux's default: below it
		{1024, 60999, 61000, 65535},   // little room below: above it
		{1024, 65000, lowest, 65535},  // room on neither side: anything
		{11000, 65535, lowest, 10999}, // exactly a thousand below
	} {
		lo, hi := candidates(c.elo, c.ehi)
		if lo != c.lo || hi != c.hi {
			t.Errorf("candidates(%d, %d) = %d-%d, want %d-%d", c.elo, c.ehi, lo, hi, c.lo, c.hi)
		}
	}
}

// TestPort binds each port found, outside the ephemeral range and never the same
// one twice.
func TestPort(t *testing.T) {
	elo, ehi := ephemeralRange()
	seen := map[int]bool{}
	for range 50 {
		addr, err := Addr("127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		_, ps, _ := net.SplitHostPort(addr)
		p, _ := strconv.Atoi(ps)
		if seen[p] {
			t.Fatalf("port %d handed out twice", p)
		}
		seen[p] = true
		if elo-lowest >= 1000 && (p < lowest || p >= elo) || p > 65535 {
			t.Fatalf("port %d is not below the ephemeral range %d-%d", p, elo, ehi)
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("port %d cannot be bound: %v", p, err)
		}
		_ = ln.Close()
	}
}

// TestPick_SkipsBusy: of three ports, two held by listeners, the third is chosen.
func TestPick_SkipsBusy(t *testing.T) {
	lo, _ := candidates(ephemeralRange())
	var held []net.Listener
	defer func() {
		for _, ln := range held {
			_ = ln.Close()
		}
	}()
	for base := lo; base < lo+3000; base += 3 {
		for _, ln := range held {
			_ = ln.Close()
		}
		held = held[:0]
		for p := base; p < base+2; p++ {
			if ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p)); err == nil {
				held = append(held, ln)
			}
		}
		third, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(base+2))
		if err == nil {
			_ = third.Close()
		}
		if len(held) != 2 || err != nil || given[base+2] {
			continue // a port of this stretch is busy elsewhere: try the next
		}
		p, err := pick("127.0.0.1", base, base+2)
		if err != nil {
			t.Fatal(err)
		}
		if p != base+2 {
			t.Fatalf("pick returned %d, held by this test; want %d", p, base+2)
		}
		return
	}
	t.Skip("no stretch of three ports free")
}
