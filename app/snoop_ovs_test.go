package app

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/l2gw/l2gw/flows"
	"github.com/l2gw/l2gw/internal/ovstest"
)

// hostWatch is what a local-MAC watch has reported: each MAC's last
// event.
type hostWatch struct {
	ch   <-chan LocalMACEvent
	macs map[string]LocalMACEvent
}

// watchHosts starts a watch on r and reads it up to its synced event.
func watchHosts(t *testing.T, r *Reconciler) *hostWatch {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ch, err := r.WatchLocalMACs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	w := &hostWatch{ch: ch, macs: map[string]LocalMACEvent{}}
	w.until(t, "synced", func() bool { return false }, LocalMACSynced)
	return w
}

// until applies the watch's events until done holds or an event of kind
// stop comes, for up to 10 s.
func (w *hostWatch) until(t *testing.T, what string, done func() bool, stop LocalMACKind) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for !done() {
		select {
		case ev := <-w.ch:
			switch ev.Kind {
			case stop:
				return
			case LocalMACRemoved:
				delete(w.macs, ev.MAC)
			case LocalMACSynced:
			default:
				w.macs[ev.MAC] = ev
			}
		case <-timeout:
			t.Fatalf("no %s within 10 s: %+v", what, w.macs)
		}
	}
}

// waitIPs waits until mac is reported on port with exactly addrs.
func (w *hostWatch) waitIPs(t *testing.T, mac, port string, addrs ...string) {
	t.Helper()
	want := ips(addrs...)
	slices.SortFunc(want, netip.Addr.Compare)
	w.until(t, fmt.Sprintf("%s on %s with %v", mac, port, want), func() bool {
		ev, ok := w.macs[mac]
		return ok && ev.Attachment.Port == port && slices.Equal(ev.IPs, want)
	}, "")
}

// waitPorts waits until the switch has the classifier flows of ports.
func waitPorts(t *testing.T, o *ovstest.OVS, ports ...string) {
	t.Helper()
	waitFor(t, "the classifier flows of "+strings.Join(ports, ", "), func() bool {
		classifier, err := o.Exec("ovs-ofctl", "-O", "OpenFlow13", "--no-names", "dump-flows", "br-int", "table=0")
		if err != nil {
			return false
		}
		for _, p := range ports {
			if !strings.Contains(classifier, fmt.Sprintf("in_port=%d,", o.OFPort(t, p))) {
				return false
			}
		}
		return true
	})
}

// snoopMeter is the snooping meter as ovs-ofctl dump-meters shows it.
func snoopMeter(t *testing.T, o *ovstest.OVS) string {
	t.Helper()
	out := o.Ofctl(t, "dump-meters", "br-int")
	i := strings.Index(out, fmt.Sprintf("meter=%d ", flows.SnoopMeter))
	if i < 0 {
		t.Fatalf("no snooping meter on the bridge:\n%s", out)
	}
	return strings.Join(strings.Fields(out[i:]), " ")
}

// TestSnoopedHostsOnOVSAndARestart: with SnoopHosts, l2gwd's watch reports
// each local host's MAC with the addresses its own stack announced (ARP,
// neighbour discovery); an l2gwd restart changes no flow and keeps the
// meter, and the new l2gwd snoops through the flows and meter it found,
// still rate-limited.
func TestSnoopedHostsOnOVSAndARestart(t *testing.T) {
	const m1, m2 = "02:0a:00:00:00:11", "02:0a:00:00:00:12"
	site := newDaemonSite(t)
	site.snoop = true
	d := site.start(t, Options{})
	must[Network](t)(d.state.CreateNetwork(Network{Name: "blue", Attachments: []Attachment{{Port: "p1"}, {Port: "p2"}}}))
	d.waitReconciled(t)
	h1 := site.ovs.AddStackHost(t, "br-int", "p1", m1, "192.0.2.11/24", "2001:db8::11/64")
	h2 := site.ovs.AddStackHost(t, "br-int", "p2", m2, "192.0.2.12/24", "2001:db8::12/64")
	waitPorts(t, site.ovs, "p1", "p2")
	w := watchHosts(t, d.rec)

	h1.Exec(t, "arping", "-c", "1", "-i", "eth0", "192.0.2.12")
	h1.Exec(t, "ndisc6", "-1", "-s", "2001:db8::11", "2001:db8::12", "eth0")
	w.waitIPs(t, m1, "p1", "192.0.2.11", "2001:db8::11")
	w.waitIPs(t, m2, "p2", "192.0.2.12", "2001:db8::12")
	if ev := w.macs[m1]; ev.Network != "blue" || ev.OFPort != site.ovs.OFPort(t, "p1") {
		t.Errorf("h1 reported as %+v", ev)
	}

	// SIGTERM; someone changes the meter; a new l2gwd on the same store
	// and bridge puts it right, and changes no flow.
	meter := snoopMeter(t, site.ovs)
	mon := monitorFlows(t, site.ovs, "br-int")
	d.stop()
	site.ovs.Ofctl(t, "mod-meter", "br-int", fmt.Sprintf("meter=%d,pktps,burst,stats,bands=type=drop,rate=100,burst_size=10", flows.SnoopMeter))
	d = site.start(t, Options{})
	st := d.waitReconciled(t)
	waitFor(t, "the meter put right", func() bool { return snoopMeter(t, site.ovs) == meter })
	if ev := mon.take(); len(ev) != 0 || st.FlowMods != 0 {
		t.Fatalf("the restart sent %d flow_mods and changed the bridge:\n%s", st.FlowMods, strings.Join(ev, "\n"))
	}
	t.Logf("the meter: %s", meter)

	// The new l2gwd knows the MACs (still learned) and hears what they
	// announce from now on.
	w = watchHosts(t, d.rec)
	h2.Exec(t, "arping", "-c", "1", "-i", "eth0", "192.0.2.11")
	w.waitIPs(t, m2, "p2", "192.0.2.12")
	w.waitIPs(t, m1, "p1", "192.0.2.11")

	// The flows the first l2gwd added are still bound to the meter the
	// second one modified: a flood is still rate-limited.
	before := d.session.SnoopStats()
	start := time.Now()
	h1.Run("arping", "-q", "-c", strconv.Itoa(3000), "-W", "0.0002", "-i", "eth0", "192.0.2.99") // fails: no answer
	took := time.Since(start)
	time.Sleep(500 * time.Millisecond)
	after := d.session.SnoopStats()
	got := after.Announcements + after.Ignored - before.Announcements - before.Ignored
	limit := float64(flows.SnoopRate)*took.Seconds() + flows.SnoopBurst
	t.Logf("after the restart, 3000 ARP requests in %s: %d copies reached l2gwd (at most %.0f)", took.Round(time.Millisecond), got, limit)
	if float64(got) > 1.1*limit {
		t.Errorf("%d copies in %s after the restart: over the meter's %.0f", got, took, limit)
	}
}
