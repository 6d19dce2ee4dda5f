package ovstest

import (
	"fmt"
	"net"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Host is the far end of a veth pair whose near end is a port of one of
// the instance's bridges: frames it sends enter the switch on that port,
// as a host's would.
type Host struct {
	Name string // its interface, in the instance's namespace
	Port string // the bridge port
	fd   int    // AF_PACKET socket bound to Name
}

// AddHost creates the veth pair name—port in the instance's namespace
// (which it must have), adds port to bridge and returns the host, removed
// when the test ends.
func (o *OVS) AddHost(t testing.TB, bridge, name, port string) *Host {
	t.Helper()
	if o.NetNS == "" {
		t.Fatal("AddHost needs an instance in a network namespace of its own")
	}
	h, err := o.NewHost(bridge, name, port)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h
}

// NewHost is AddHost for programs that are not tests: it creates the veth
// pair name—port in the instance's namespace (the program's own when the
// instance has none), adds port to bridge and returns the host. Close
// closes its socket.
func (o *OVS) NewHost(bridge, name, port string) (*Host, error) {
	// Without IPv6 the host's kernel sends nothing of its own (router and
	// neighbour solicitations, MLD reports): only the frames Send sends.
	for _, args := range [][]string{
		{"ip", "link", "add", name, "type", "veth", "peer", "name", port},
		{"sysctl", "-qw", "net.ipv6.conf." + name + ".disable_ipv6=1"},
		{"sysctl", "-qw", "net.ipv6.conf." + port + ".disable_ipv6=1"},
		{"ip", "link", "set", name, "up"},
		{"ip", "link", "set", port, "up"},
		{"ovs-vsctl", "--db=" + o.Endpoint(), "--timeout=10", "add-port", bridge, port},
	} {
		if _, err := o.Exec(args[0], args[1:]...); err != nil {
			return nil, err
		}
	}
	return o.OpenHost(name, port)
}

// OpenHost returns a host that sends on the network device name of the
// instance's namespace (the program's own when the instance has none),
// through which frames enter the bridge on port: the far end of a veth
// pair whose near end is port, or an internal port's own device (name and
// port the same). Close closes its socket.
func (o *OVS) OpenHost(name, port string) (*Host, error) {
	h := &Host{Name: name, Port: port, fd: -1}
	open := func() error {
		ifi, err := net.InterfaceByName(name)
		if err != nil {
			return err
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0) // sends only
		if err != nil {
			return fmt.Errorf("packet socket: %w", err)
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: ifi.Index}); err != nil {
			unix.Close(fd)
			return fmt.Errorf("bind a packet socket to %s: %w", name, err)
		}
		h.fd = fd
		return nil
	}
	var err error
	if o.NetNS == "" {
		err = open()
	} else {
		err = inNetNS(o.NetNS, open)
	}
	if err != nil {
		return nil, err
	}
	return h, nil
}

// Close closes the host's socket.
func (h *Host) Close() { unix.Close(h.fd) }

// Write sends frame (a whole Ethernet frame) into the switch.
func (h *Host) Write(frame []byte) error {
	if _, err := unix.Write(h.fd, frame); err != nil {
		return fmt.Errorf("send a frame from %s: %w", h.Name, err)
	}
	return nil
}

// Send sends frame (a whole Ethernet frame) into the switch and returns
// when it was handed to the kernel.
func (h *Host) Send(t testing.TB, frame []byte) time.Time {
	t.Helper()
	at := time.Now()
	if err := h.Write(frame); err != nil {
		t.Fatal(err)
	}
	return at
}

// Keep sends frame every interval, as a host that keeps talking does,
// until stop is called (or the test ends).
func (h *Host) Keep(t testing.TB, frame []byte, interval time.Duration) (stop func()) {
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				unix.Write(h.fd, frame)
			}
		}
	}()
	var once sync.Once
	stop = func() { once.Do(func() { close(done); <-stopped }) }
	t.Cleanup(stop)
	return stop
}

// Frame builds an Ethernet frame from src to dst of EtherType 0x88b5
// (IEEE 802's local experimental type, which no host stack answers),
// tagged with vlan unless it is 0.
func Frame(src, dst string, vlan uint16) []byte {
	f := make([]byte, 12, 64)
	for i, mac := range []string{dst, src} {
		hw, err := net.ParseMAC(mac)
		if err != nil || len(hw) != 6 {
			panic(fmt.Sprintf("ovstest: bad MAC %q", mac))
		}
		copy(f[6*i:], hw)
	}
	if vlan != 0 {
		f = append(f, 0x81, 0x00, byte(vlan>>8), byte(vlan))
	}
	f = append(f, 0x88, 0xb5)
	return f[:cap(f)]
}

// OFPort returns port's ofport on its bridge.
func (o *OVS) OFPort(t testing.TB, port string) uint32 {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		out := strings.TrimSpace(o.Vsctl(t, "get", "interface", port, "ofport"))
		var n int64
		if _, err := fmt.Sscan(out, &n); err == nil && n > 0 {
			return uint32(n)
		}
		if time.Now().After(deadline) {
			t.Fatalf("port %s has no ofport (%q)", port, out)
		}
	}
}

// StackHost is a host with a network stack of its own: a network namespace
// whose eth0 is the far end of a veth pair whose near end is a bridge
// port, for tests whose hosts talk as hosts do (ARP, neighbour discovery,
// ping) with the system's tools.
type StackHost struct {
	NetNS string // the host's namespace
	Port  string // the bridge port, in the instance's namespace
	MAC   string // eth0's address
}

// AddStackHost creates a host in a namespace of its own (NetNS, deleted
// when the test ends) whose eth0 has mac and addrs (CIDR prefixes, IPv4 or
// IPv6, added without duplicate address detection), its veth peer port a
// port of bridge in the instance's namespace (which it must have). IPv6 is
// on, so the host's kernel sends its own neighbour discovery.
func (o *OVS) AddStackHost(t testing.TB, bridge, port, mac string, addrs ...string) *StackHost {
	t.Helper()
	if o.NetNS == "" {
		t.Fatal("AddStackHost needs an instance in a network namespace of its own")
	}
	h := &StackHost{NetNS: NetNS(t, "l2gw-host"), Port: port, MAC: mac}
	if _, err := o.Exec("ip", "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", h.NetNS); err != nil {
		t.Fatal(err)
	}
	cmds := [][]string{{"ip", "link", "set", "eth0", "address", mac}, {"ip", "link", "set", "eth0", "up"}}
	for _, a := range addrs {
		cmds = append(cmds, []string{"ip", "addr", "add", a, "dev", "eth0", "nodad"})
	}
	for _, c := range cmds {
		h.Exec(t, c...)
	}
	if _, err := o.Exec("ip", "link", "set", port, "up"); err != nil {
		t.Fatal(err)
	}
	o.Vsctl(t, "add-port", bridge, port)
	return h
}

// Exec runs cmd in the host's namespace and returns its standard output,
// failing t on error.
func (h *StackHost) Exec(t testing.TB, cmd ...string) string {
	t.Helper()
	out, err := h.Run(cmd...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Run runs cmd in the host's namespace and returns its standard output; a
// failure's error carries its standard error.
func (h *StackHost) Run(cmd ...string) (string, error) {
	c := exec.Command("ip", append([]string{"netns", "exec", h.NetNS}, cmd...)...)
	var stdout, stderr strings.Builder
	c.Stdout, c.Stderr = &stdout, &stderr
	if err := c.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s: %w: %s", strings.Join(cmd, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}
