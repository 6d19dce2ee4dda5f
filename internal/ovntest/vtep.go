package ovntest

import (
	"path/filepath"
	"testing"
)

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
// database at vtepDB (unix:PATH: an ovstest.VTEPDB's Endpoint, or l2gwd's) and
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
