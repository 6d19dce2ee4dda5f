package ovntest

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// VTEPDB is a running ovsdb-server serving a fresh hardware_vtep database
// (vtep.db, from vtep.ovsschema) on a unix socket of its own: the database
// a VTEP (ovs-vtep, l2gwd) and its controller (ovn-controller-vtep,
// vtep-ctl) share.
type VTEPDB struct {
	Dir string // database, socket, pid file, control socket and log
	db  *daemon
}

// StartVTEPDB creates an empty hardware_vtep database in a new directory,
// serves it and returns once it answers. When the test ends the server is
// stopped and the directory removed (kept, with the log's last lines
// printed, when the test failed). Any error fails t.
func StartVTEPDB(t testing.TB) *VTEPDB {
	t.Helper()
	Require(t)
	v := &VTEPDB{Dir: makeDir(t, "vtepdb", "ovsdb-server.log")}
	t.Cleanup(func() { v.db.stop() })
	db := filepath.Join(v.Dir, "vtep.db")
	if _, err := run(nil, "ovsdb-tool", "create", db, VTEPSchemaPath); err != nil {
		t.Fatalf("ovntest: vtep database: %v", err)
	}
	var err error
	v.db, err = launch(v.Dir, "", "ovsdb-server", nil, v.serves, db,
		"--remote=punix:"+v.DBSock(),
		"--pidfile="+filepath.Join(v.Dir, "ovsdb-server.pid"),
		"--unixctl="+filepath.Join(v.Dir, "ovsdb-server.ctl"),
		"--log-file="+filepath.Join(v.Dir, "ovsdb-server.log"), "-vconsole:off")
	if err != nil {
		t.Fatalf("ovntest: vtep database: %v", err)
	}
	return v
}

// serves reports whether ovsdb-server answers with the database.
func (v *VTEPDB) serves() error {
	out, err := run(nil, "ovsdb-client", "--timeout=5", "list-dbs", v.Endpoint())
	if err != nil {
		return err
	}
	if !strings.Contains(out, "hardware_vtep") {
		return fmt.Errorf("ovsdb-server serves %q", strings.Fields(out))
	}
	return nil
}

// DBSock is the path of the database's unix socket.
func (v *VTEPDB) DBSock() string { return filepath.Join(v.Dir, "db.sock") }

// Endpoint is the database's OVSDB endpoint, unix:DBSock, as vtep-ctl's
// --db, ovn-controller-vtep's --vtep-db and l2gwd's --vtep-db take it.
func (v *VTEPDB) Endpoint() string { return "unix:" + v.DBSock() }

// Ctl runs vtep-ctl with args against the database and returns its
// standard output; a failure's error carries its standard error.
func (v *VTEPDB) Ctl(args ...string) (string, error) {
	return run(nil, "vtep-ctl", append([]string{"--db=" + v.Endpoint(), "--timeout=30"}, args...)...)
}

// VTEPController is a running ovn-controller-vtep: it makes each physical
// switch of a hardware_vtep database a chassis of the central's
// southbound database and writes the OVN side (remote MACs, locators,
// logical switches' tunnel keys) into the hardware_vtep database.
type VTEPController struct {
	Dir    string // OVN_RUNDIR: pid file, control socket and log
	VTEPDB string // the hardware_vtep database's endpoint
	d      *daemon
}

// StartVTEPController runs ovn-controller-vtep against the hardware_vtep
// database at vtepDB (unix:PATH: a VTEPDB's Endpoint, or l2gwd's) and
// central's southbound database, with an OVN_RUNDIR of its own (it has no
// --unixctl), and returns once it answers on its control socket. When the
// test ends it is stopped and its directory removed (kept, with the log's
// last lines printed, when the test failed). Any error fails t.
func StartVTEPController(t testing.TB, central *Central, vtepDB string) *VTEPController {
	t.Helper()
	Require(t)
	v := &VTEPController{Dir: makeDir(t, "controller-vtep", "ovn-controller-vtep.log"), VTEPDB: vtepDB}
	t.Cleanup(func() { v.d.stop() })
	var err error
	v.d, err = launch(v.Dir, "", "ovn-controller-vtep", []string{"OVN_RUNDIR=" + v.Dir},
		func() error { _, err := v.Appctl("version"); return err },
		"--vtep-db="+vtepDB, "--ovnsb-db="+central.Endpoint(),
		"--pidfile="+filepath.Join(v.Dir, "ovn-controller-vtep.pid"),
		"--log-file="+filepath.Join(v.Dir, "ovn-controller-vtep.log"), "-vconsole:off")
	if err != nil {
		t.Fatalf("ovntest: ovn-controller-vtep: %v", err)
	}
	return v
}

// Appctl runs ovn-appctl against the ovn-controller-vtep and returns its
// standard output; a failure's error carries its standard error.
func (v *VTEPController) Appctl(args ...string) (string, error) {
	return run([]string{"OVN_RUNDIR=" + v.Dir}, "ovn-appctl", append([]string{"-t", "ovn-controller-vtep"}, args...)...)
}
