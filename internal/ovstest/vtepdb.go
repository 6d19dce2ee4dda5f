package ovstest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// VTEPSchemaPath is where Debian's openvswitch-vtep installs the
// hardware_vtep schema.
const VTEPSchemaPath = "/usr/share/openvswitch/vtep.ovsschema"

// VTEPDB is a private ovsdb-server serving a hardware_vtep database (what
// ovs-vtep and l2gwd's vtep origin are physical switches of), in a
// directory of its own.
type VTEPDB struct {
	Dir string
	o   OVS // runs nothing but its ovsdb-server: kill and Exec
}

// StartVTEPDB creates a hardware_vtep database in a new directory and
// serves it with ovsdb-server until the test ends. It skips (or fails,
// see SkipOrFail) without root, ovsdb-server or vtep-ctl.
func StartVTEPDB(t testing.TB) *VTEPDB {
	t.Helper()
	Require(t)
	if _, err := exec.LookPath("vtep-ctl"); err != nil {
		SkipOrFail(t, "vtep-ctl is not installed (apt-get install openvswitch-vtep)")
	}
	if _, err := os.Stat(VTEPSchemaPath); err != nil {
		SkipOrFail(t, VTEPSchemaPath+" is missing (apt-get install openvswitch-vtep)")
	}
	dir, err := os.MkdirTemp("", "l2gw-vtepdb-")
	if err != nil {
		t.Fatal(err)
	}
	d := &VTEPDB{Dir: dir, o: OVS{Dir: dir}}
	t.Cleanup(func() {
		d.Stop()
		if !t.Failed() {
			os.RemoveAll(dir)
		} else {
			t.Logf("hardware_vtep ovsdb-server log kept in %s", dir)
		}
	})
	if _, err := d.o.Exec("ovsdb-tool", "create", d.File(), VTEPSchemaPath); err != nil {
		t.Fatal(err)
	}
	if err := d.Serve(); err != nil {
		t.Fatal(err)
	}
	return d
}

// File is the database file.
func (d *VTEPDB) File() string { return filepath.Join(d.Dir, "vtep.db") }

// Endpoint is the database's unix socket as vtep.Config.DB takes it.
func (d *VTEPDB) Endpoint() string { return "unix:" + filepath.Join(d.Dir, "db.sock") }

// Serve starts ovsdb-server on the database (again, after Stop).
func (d *VTEPDB) Serve() error {
	_, err := d.o.Exec("ovsdb-server", d.File(),
		"--remote=p"+d.Endpoint(),
		"--pidfile="+filepath.Join(d.Dir, "ovsdb-server.pid"),
		"--unixctl="+filepath.Join(d.Dir, "ovsdb-server.ctl"),
		"--log-file="+filepath.Join(d.Dir, "ovsdb-server.log"), "-vconsole:off",
		"--detach")
	return err
}

// Stop stops ovsdb-server and waits for it to exit; the database file stays.
func (d *VTEPDB) Stop() { d.o.kill("ovsdb-server", syscall.SIGTERM) }

// Ctl runs vtep-ctl against the database, failing t on error, and returns
// its output.
func (d *VTEPDB) Ctl(t testing.TB, args ...string) string {
	t.Helper()
	out, err := d.TryCtl(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TryCtl runs vtep-ctl against the database and returns its output, or an
// error that carries its standard error.
func (d *VTEPDB) TryCtl(args ...string) (string, error) {
	cmd := exec.Command("vtep-ctl", append([]string{"--db=" + d.Endpoint(), "--timeout=10"}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("vtep-ctl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// Transact runs ovsdb-tool transact on the database file while the server
// is stopped: a change made while nothing is connected.
func (d *VTEPDB) Transact(t testing.TB, transaction string) string {
	t.Helper()
	out, err := d.o.Exec("ovsdb-tool", "transact", d.File(), transaction)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TransactRPC sends ops (the JSON params of an OVSDB transact request,
// database name first) to the server as one JSON-RPC request on its
// socket and returns the reply's result, failing t on an error reply:
// for a transaction too large for ovsdb-client's command line.
func (d *VTEPDB) TransactRPC(t testing.TB, params string) json.RawMessage {
	t.Helper()
	c, err := net.Dial("unix", strings.TrimPrefix(d.Endpoint(), "unix:"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := fmt.Fprintf(c, `{"method":"transact","id":1,"params":%s}`, params); err != nil {
		t.Fatal(err)
	}
	var reply struct {
		ID     any             `json:"id"`
		Result json.RawMessage `json:"result"`
		Error  any             `json:"error"`
	}
	dec := json.NewDecoder(c)
	for reply.ID == nil { // skip the server's echo requests
		if err := dec.Decode(&reply); err != nil {
			t.Fatalf("transact reply: %v", err)
		}
	}
	if reply.Error != nil {
		t.Fatalf("transact: %v", reply.Error)
	}
	if strings.Contains(string(reply.Result), `"error"`) {
		t.Fatalf("transact: %.500s", reply.Result)
	}
	return reply.Result
}
