package ovntest

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// Central is a running OVN central: one ovsdb-server serving the
// northbound (nb.db) and southbound (sb.db) databases on one unix socket,
// and ovn-northd translating the one into the other.
type Central struct {
	Dir    string // databases, socket, pid files, control sockets and logs
	db     *daemon
	northd *daemon
}

// StartCentral creates fresh northbound and southbound databases in a new
// directory, serves both with one ovsdb-server, starts ovn-northd against
// them and returns once northd is active. When the test ends both daemons
// are stopped and the directory removed (kept, and the logs' last lines
// printed, when the test failed). Any error fails t.
func StartCentral(t testing.TB) *Central {
	t.Helper()
	Require(t)
	c := &Central{Dir: makeDir(t, "central", "ovsdb-server.log", "ovn-northd.log")}
	t.Cleanup(func() {
		c.northd.stop()
		c.db.stop()
	})
	if err := c.start(); err != nil {
		t.Fatalf("ovntest: central: %v", err)
	}
	return c
}

func (c *Central) start() error {
	nb, sb := filepath.Join(c.Dir, "nb.db"), filepath.Join(c.Dir, "sb.db")
	for db, schema := range map[string]string{nb: NBSchemaPath, sb: SBSchemaPath} {
		if _, err := run(nil, "ovsdb-tool", "create", db, schema); err != nil {
			return err
		}
	}
	var err error
	c.db, err = launch(c.Dir, "", "ovsdb-server", nil, c.serves, nb, sb,
		"--remote=punix:"+c.DBSock(),
		"--pidfile="+filepath.Join(c.Dir, "ovsdb-server.pid"),
		"--unixctl="+filepath.Join(c.Dir, "ovsdb-server.ctl"),
		"--log-file="+filepath.Join(c.Dir, "ovsdb-server.log"), "-vconsole:off")
	if err != nil {
		return err
	}
	// The global rows, written before northd runs so it finds them.
	if _, err := c.NBCtl("init"); err != nil {
		return err
	}
	if _, err := c.SBCtl("init"); err != nil {
		return err
	}
	c.northd, err = launch(c.Dir, "", "ovn-northd", []string{"OVN_RUNDIR=" + c.Dir}, c.northdActive,
		"--ovnnb-db="+c.Endpoint(), "--ovnsb-db="+c.Endpoint(),
		"--unixctl="+c.northdCtl(),
		"--pidfile="+filepath.Join(c.Dir, "ovn-northd.pid"),
		"--log-file="+filepath.Join(c.Dir, "ovn-northd.log"), "-vconsole:off")
	return err
}

// serves reports whether ovsdb-server answers with both databases.
func (c *Central) serves() error {
	out, err := run(nil, "ovsdb-client", "--timeout=5", "list-dbs", c.Endpoint())
	if err != nil {
		return err
	}
	if !strings.Contains(out, "OVN_Northbound") || !strings.Contains(out, "OVN_Southbound") {
		return fmt.Errorf("ovsdb-server serves %q", strings.Fields(out))
	}
	return nil
}

func (c *Central) northdCtl() string { return filepath.Join(c.Dir, "ovn-northd.ctl") }

// northdActive reports whether ovn-northd says it is the active northd.
func (c *Central) northdActive() error {
	out, err := run(nil, "ovn-appctl", "-t", c.northdCtl(), "status")
	if err != nil {
		return err
	}
	if !strings.Contains(out, "active") {
		return fmt.Errorf("ovn-northd status: %s", strings.TrimSpace(out))
	}
	return nil
}

// DBSock is the path of the unix socket both databases are served on.
func (c *Central) DBSock() string { return filepath.Join(c.Dir, "ovn.sock") }

// Endpoint is the OVSDB endpoint of both databases, unix:DBSock, as
// ovn-nbctl's and ovn-sbctl's --db, ovn-northd's --ovnnb-db and --ovnsb-db,
// ovn-controller's ovn-remote and ovn-controller-vtep's --ovnsb-db take it.
func (c *Central) Endpoint() string { return "unix:" + c.DBSock() }

// NBCtl runs ovn-nbctl with args against the northbound database (options
// such as --wait=hv go first in args) and returns its standard output; a
// failure's error carries its standard error.
func (c *Central) NBCtl(args ...string) (string, error) {
	return run(nil, "ovn-nbctl", append([]string{"--db=" + c.Endpoint(), "--timeout=30"}, args...)...)
}

// SBCtl runs ovn-sbctl with args against the southbound database and
// returns its standard output; a failure's error carries its standard
// error.
func (c *Central) SBCtl(args ...string) (string, error) {
	return run(nil, "ovn-sbctl", append([]string{"--db=" + c.Endpoint(), "--timeout=30"}, args...)...)
}
