package ha

import (
	"context"
	"log/slog"
	"net/netip"
	"testing"
	"time"
)

// Two nodes on loopback addresses tell each other their priority and
// digest; a node started again remembers its peer's priority before it
// hears it.
func TestHelloExchangeAndMemory(t *testing.T) {
	a, b := netip.MustParseAddr("127.0.0.21"), netip.MustParseAddr("127.0.0.22")
	dirA, dirB := t.TempDir(), t.TempDir()
	log := slog.New(slog.DiscardHandler)
	const port = 47991
	heard := make(chan struct{}, 10)
	wake := func() { heard <- struct{}{} }
	la, err := listenHello(a, b, port, 200, dirA, log, wake)
	if err != nil {
		t.Fatal(err)
	}
	lb, err := listenHello(b, a, port, 100, dirB, log, func() {})
	if err != nil {
		t.Fatal(err)
	}
	if p := la.peerInfo().Priority; p != 0 {
		t.Fatalf("a knows priority %d of a peer it never heard", p)
	}
	lb.setDigest("digest-b")
	ctx, cancel := context.WithCancel(context.Background())
	go la.run(ctx, nil)
	go lb.run(ctx, nil)
	deadline := time.After(5 * time.Second)
	for la.peerInfo().Digest != "digest-b" {
		select {
		case <-heard:
		case <-deadline:
			t.Fatalf("a heard %+v from b", la.peerInfo())
		}
	}
	if got := la.peerInfo(); got.Priority != 100 {
		t.Errorf("a heard priority %d, want 100", got.Priority)
	}
	cancel()
	time.Sleep(100 * time.Millisecond) // the sockets close

	again, err := listenHello(a, b, port, 200, dirA, log, func() {})
	if err != nil {
		t.Fatal(err)
	}
	defer again.conn.Close()
	if p := again.peerInfo().Priority; p != 100 {
		t.Errorf("a restarted knows priority %d of its peer, want 100 (remembered)", p)
	}
	other, err := listenHello(a, netip.MustParseAddr("127.0.0.23"), port+1, 200, dirA, log, func() {})
	if err != nil {
		t.Fatal(err)
	}
	defer other.conn.Close()
	if p := other.peerInfo().Priority; p != 0 {
		t.Errorf("a paired with another peer takes the old peer's priority %d", p)
	}
}
