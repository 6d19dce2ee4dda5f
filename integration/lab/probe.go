package lab

import (
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Ping sends count echo requests from the host to ip, one every interval,
// and returns how many were sent and answered (a reply later than 1 s counts
// as lost).
func (h *Host) Ping(t testing.TB, ip string, count int, interval time.Duration) (sent, received int) {
	t.Helper()
	out, err := h.Exec(t, "ping", "-n", "-c", strconv.Itoa(count),
		"-i", fmt.Sprintf("%.3f", interval.Seconds()), "-W", "1", ip)
	sent, received, ok := parsePing(out)
	if !ok {
		t.Fatalf("host %s: ping %s: no summary in output (%v):\n%s", h.Name, ip, err, out)
	}
	return sent, received
}

// pingSummary matches iputils ping's "N packets transmitted, M received".
var pingSummary = regexp.MustCompile(`(\d+) packets transmitted, (\d+) received`)

// parsePing reads the summary line of iputils ping's output.
func parsePing(out string) (sent, received int, ok bool) {
	m := pingSummary.FindStringSubmatch(out)
	if m == nil {
		return 0, 0, false
	}
	sent, _ = strconv.Atoi(m[1])
	received, _ = strconv.Atoi(m[2])
	return sent, received, true
}

// Arping sends count ARP requests for ip out of the host's eth0, one a
// second, and returns how many replies came back and the sender MAC of each
// reply (lower case, in arrival order; a request answered twice shows up
// twice). It uses Thomas Habets' arping (Debian package arping), which
// Require insists on.
func (h *Host) Arping(t testing.TB, ip string, count int) (replies int, replyMACs []string) {
	t.Helper()
	// arping exits non-zero when nothing answers: the output tells.
	out, _ := h.Exec(t, "arping", "-c", strconv.Itoa(count), "-i", HostIf, ip)
	macs := parseArping(out)
	return len(macs), macs
}

// arpingReply matches a reply line of Habets' arping:
// "42 bytes from 02:00:00:00:00:0c (192.0.2.12): index=0 time=21.160 usec".
var arpingReply = regexp.MustCompile(`(?m)^\d+ bytes from ([0-9a-fA-F:]{17}) \(`)

// parseArping returns the sender MAC of every reply line in arping's output.
func parseArping(out string) []string {
	var macs []string
	for _, m := range arpingReply.FindAllStringSubmatch(out, -1) {
		macs = append(macs, strings.ToLower(m[1]))
	}
	return macs
}

// checkArping reports whether the installed arping is Habets', whose
// options and output Arping relies on (iputils-arping differs in both).
func checkArping() error {
	out, _ := exec.Command("arping", "--help").CombinedOutput()
	if !strings.Contains(string(out), "Habets") {
		return fmt.Errorf("arping is not Thomas Habets' arping (apt-get install arping): %s", firstLine(string(out)))
	}
	return nil
}

// firstLine returns s up to its first newline.
func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
