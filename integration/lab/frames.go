package lab

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/l2gw/l2gw/internal/ovstest"
)

// Frame is an Ethernet frame crafted with scapy: EtherType 0x88b5 (IEEE
// 802's local experimental type, which no host stack answers) carrying
// Payload. Src and Dst are MAC addresses.
type Frame struct {
	Src     string `json:"src"`
	Dst     string `json:"dst"`
	Payload string `json:"payload"`
}

// FrameEtherType is the EtherType of every Frame.
const FrameEtherType = 0x88b5

// systemPython runs the lab's scapy programs: Debian's python3-scapy is
// installed for Debian's own python3, which another python3 earlier in
// PATH (pyenv, a virtualenv) cannot import it from.
const systemPython = "/usr/bin/python3"

// RequireScapy skips t unless Debian's python3 can import scapy (package
// python3-scapy); with L2GW_REQUIRE_OVS=1 it fails t instead.
func RequireScapy(t testing.TB) {
	t.Helper()
	if out, err := exec.Command(systemPython, "-c", "import scapy.all").CombinedOutput(); err != nil {
		ovstest.SkipOrFail(t, fmt.Sprintf("python3 cannot import scapy (apt-get install python3-scapy): %v: %s", err, firstLine(string(out))))
	}
}

// sendFrames is the Python program behind SendFrames and SendVXLAN. It
// reads {"frames": [...], "type": ETHERTYPE, "iface": IF} (sent as they are
// out of IF) or {"frames": [...], "type": ETHERTYPE, "remote": IP, "vni": N}
// (each in a VXLAN header, UDP to IP port 4789 through the kernel's
// routing) on standard input, and sends
// them in that order, pausing 10 ms after every 100 so that the receiving
// switch's socket buffers keep up.
const sendFrames = `
import json, socket, sys, time
from scapy.config import conf
from scapy.layers.l2 import Ether
from scapy.layers.vxlan import VXLAN
from scapy.packet import Raw

spec = json.load(sys.stdin)
frames = [Ether(src=f["src"], dst=f["dst"], type=spec["type"]) / Raw(f["payload"].encode()) for f in spec["frames"]]
if "iface" in spec:
    sock = conf.L2socket(iface=spec["iface"])
    send = lambda f: sock.send(f)
else:
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    send = lambda f: udp.sendto(bytes(VXLAN(vni=spec["vni"], flags=0x08) / f), (spec["remote"], 4789))
for i, f in enumerate(frames):
    send(f)
    if i % 100 == 99:
        time.sleep(0.01)
`

// SendFrames sends frames out of the host's eth0, crafted with scapy.
func (h *Host) SendFrames(t testing.TB, frames ...Frame) {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", h.NetNS, systemPython, "-c", sendFrames)
	if err := runScapy(cmd, map[string]any{"frames": frames, "iface": HostIf}); err != nil {
		t.Fatalf("host %s: send frames: %v", h.Name, err)
	}
}

// SendVXLAN sends frames from the site's tunnel IP to site to's tunnel
// IP, VXLAN-encapsulated with vni, as a remote gateway would: the site
// needs no l2gwd and no br-int.
func (s *Site) SendVXLAN(t testing.TB, to *Site, vni uint32, frames []Frame) {
	t.Helper()
	cmd := s.ovs.Command(systemPython, "-c", sendFrames)
	if err := runScapy(cmd, map[string]any{"frames": frames, "remote": to.TunnelIP, "vni": vni}); err != nil {
		t.Fatalf("site %s: send VXLAN to %s: %v", s.Name, to.TunnelIP, err)
	}
}

// runScapy runs cmd (the sendFrames program) with spec, and the frames'
// EtherType, as its input.
func runScapy(cmd *exec.Cmd, spec map[string]any) error {
	spec["type"] = FrameEtherType
	in, err := json.Marshal(spec)
	if err != nil {
		return fmt.Errorf("encode frames: %w", err)
	}
	cmd.Stdin = bytes.NewReader(in)
	_, err = runCmd(cmd)
	return err
}

// Capture is tcpdump running on a host's eth0, printing each frame's
// link-level header (MAC addresses) on one line.
type Capture struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{} // closed once tcpdump has exited
}

// Capture starts tcpdump on the host's eth0 with filter (tcpdump's
// expression words, none for every frame) and returns once tcpdump is
// listening. The capture ends with Stop, or when t ends.
func (h *Host) Capture(t testing.TB, filter ...string) *Capture {
	t.Helper()
	args := append([]string{"netns", "exec", h.NetNS, "tcpdump", "-l", "-nn", "-e", "-i", HostIf}, filter...)
	cmd := exec.Command("ip", args...)
	c := &Capture{cmd: cmd, out: &syncBuffer{}, done: make(chan struct{})}
	listening := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = c.out, listening
	if err := cmd.Start(); err != nil {
		t.Fatalf("host %s: start tcpdump: %v", h.Name, err)
	}
	go func() {
		cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() { c.stop() })
	ok := poll(func() bool {
		select {
		case <-c.done:
			return true
		default:
		}
		return strings.Contains(listening.String(), "listening on")
	})
	select {
	case <-c.done:
		t.Fatalf("host %s: tcpdump exited: %s", h.Name, listening.String())
	default:
	}
	if !ok {
		t.Fatalf("host %s: tcpdump not listening after %s: %s", h.Name, pollTimeout, listening.String())
	}
	return c
}

// Output returns what the capture printed so far, one line per frame.
func (c *Capture) Output() string { return c.out.String() }

// WaitFor waits up to 10 s for a captured line that contains s and
// reports whether one came.
func (c *Capture) WaitFor(s string) bool {
	return poll(func() bool { return strings.Contains(c.Output(), s) })
}

// Stop ends the capture and returns everything it printed.
func (c *Capture) Stop() string {
	c.stop()
	return c.Output()
}

// stop interrupts tcpdump (it flushes what it has) and waits for it.
func (c *Capture) stop() {
	select {
	case <-c.done:
		return
	default:
	}
	c.cmd.Process.Signal(syscall.SIGINT)
	<-c.done
}

// syncBuffer is a bytes.Buffer that a process writes while tests read it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
