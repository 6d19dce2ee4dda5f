package flows

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/l2gw/l2gw/internal/ovstest"
	"github.com/l2gw/l2gw/internal/testpki"
)

// tlsLab is a private OVS whose bridge br0 has the controller
// ssl:127.0.0.1:PORT, and the Session listening there over TLS. Both live in
// a network namespace of their own.
type tlsLab struct {
	lab
	logs *logBuffer
}

// startTLSLab starts OVS with sw as its SSL key and certificate (trusting
// the controller CA of p) and a TLS session with p's listener files, and
// points br0 at the session. It does not wait for the switch to connect.
func startTLSLab(t *testing.T, p *testPKI, sw testpki.Files) *tlsLab {
	t.Helper()
	ns := ovstest.NetNS(t, "l2gw-flows-tls")
	if out, err := exec.Command("ip", "-n", ns, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("ip -n %s link set lo up: %v: %s", ns, err, out)
	}
	o := ovstest.Start(t, ns)
	logs := &logBuffer{}
	var s *Session
	ovstest.InNetNS(t, ns, func() (err error) {
		s, err = ListenTLS("127.0.0.1:0", p.listenerFiles(), logs.logger())
		return err
	})
	t.Cleanup(s.Close)
	target := "ssl:" + s.listener.Addr().String()
	o.Vsctl(t, "set-ssl", sw.Key, sw.Cert, p.controllerCAFile)
	o.Vsctl(t, "add-br", "br0", "--",
		"set", "bridge", "br0", "datapath_type=netdev", "protocols=OpenFlow13", "fail_mode=secure", "--",
		"set-controller", "br0", target)
	return &tlsLab{lab: lab{ovs: o, s: s}, logs: logs}
}

func TestTLSOVSConnectsAndFlowsGoOverTLS(t *testing.T) {
	p := newTestPKI(t)
	l := startTLSLab(t, p, p.sw)
	l.waitEvent(t, true)
	_, conn := l.s.link()
	tc, ok := conn.(*tls.Conn)
	if !ok {
		t.Fatalf("switch connection is a %T, want *tls.Conn", conn)
	}
	st := tc.ConnectionState()
	if got := st.PeerCertificates[0].Subject.CommonName; got != "ovs-switch" || st.Version < tls.VersionTLS12 {
		t.Fatalf("switch authenticated as %q over %s, want ovs-switch over TLS 1.2 or later", got, tls.VersionName(st.Version))
	}
	t.Logf("switch %q connected over %s", st.PeerCertificates[0].Subject, tls.VersionName(st.Version))

	ctx := context.Background()
	flows := testFlows(1000)
	if err := l.s.Apply(ctx, ModList(addMods(flows))); err != nil {
		t.Fatal(err)
	}
	if counts := l.ofctlCookies(t); len(counts) != len(flows) {
		t.Fatalf("ovs-ofctl shows %s, want %d", someCookies(counts), len(flows))
	}
	dumped, err := l.s.Dump(ctx, testCookie, testMask)
	if err != nil {
		t.Fatal(err)
	}
	checkDump(t, dumped, flows)
}

func TestTLSOVSWithCertificateOfAnotherCAIsRefused(t *testing.T) {
	p := newTestPKI(t)
	rogue := testpki.NewCA(t, "rogue-ca").Issue(t, "rogue-switch", x509.ExtKeyUsageClientAuth).WriteFiles(t, p.dir)
	l := startTLSLab(t, p, rogue)
	// OVS tries again after a second: both attempts are refused.
	awaitLog(t, l.logs, "openflow tls handshake refused", 2)
	if !strings.Contains(l.logs.String(), "certificate signed by unknown authority") {
		t.Errorf("the refusal does not name the unknown CA:\n%s", l.logs)
	}
	select {
	case ev := <-l.s.Events():
		t.Fatalf("session reported %+v for a switch with a certificate of another CA", ev)
	case <-time.After(100 * time.Millisecond):
	}
	if l.s.Connected() {
		t.Fatal("session reports a switch connected")
	}
	if n := strings.Count(l.logs.String(), "openflow tls switch authenticated"); n != 0 {
		t.Fatalf("the log shows %d switches authenticated", n)
	}
}
