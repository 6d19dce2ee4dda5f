package main

import (
	"flag"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const (
	exampleConfig = "../../dist/l2gwd.yaml"
	systemdUnit   = "../../dist/l2gwd.service"
)

func TestExampleConfigLoads(t *testing.T) {
	out := printConfig(t, nil, "--config", exampleConfig)
	for _, want := range []string{"tunnel-ip: 198.51.100.1 # file\n", "data-dir: /var/lib/l2gw # file\n", "log-format: text # file\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("--print-config of %s lacks %q:\n%s", exampleConfig, want, out)
		}
	}
}

// TestExampleConfigDocumentsEveryKey uncomments the example's "#key: value"
// lines: the file must then set every key once, each a real flag with a
// value it accepts.
func TestExampleConfigDocumentsEveryKey(t *testing.T) {
	data, err := os.ReadFile(exampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	all := regexp.MustCompile(`(?m)^#([a-z][a-z0-9-]*:( |$))`).ReplaceAll(data, []byte("$1"))
	path := filepath.Join(t.TempDir(), "all.yaml")
	if err := os.WriteFile(path, all, 0o600); err != nil {
		t.Fatal(err)
	}
	fs := (&config{}).flagSet(io.Discard)
	values, err := readConfigFile(path, fs)
	if err != nil {
		t.Fatalf("%s with every key uncommented: %v", exampleConfig, err)
	}
	fs.VisitAll(func(f *flag.Flag) {
		if _, ok := values[f.Name]; ok != inFile(f.Name) {
			t.Errorf("%s: key %s present: %v, want %v", exampleConfig, f.Name, ok, inFile(f.Name))
		}
	})
}

func TestSystemdUnit(t *testing.T) {
	data, err := os.ReadFile(systemdUnit)
	if err != nil {
		t.Fatal(err)
	}
	unit := string(data)
	for _, want := range []string{
		"Type=simple", "ExecStart=/usr/local/bin/l2gwd --config /etc/l2gw/l2gwd.yaml",
		"After=openvswitch-switch.service", "Wants=openvswitch-switch.service", "Restart=on-failure",
		"KillSignal=SIGTERM", "NoNewPrivileges=yes", "ProtectSystem=strict", "ReadWritePaths=/var/lib/l2gw",
		"StateDirectory=l2gw", "PrivateTmp=yes", "ProtectHome=yes",
	} {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(want) + `$`).MatchString(unit) {
			t.Errorf("%s lacks the line %s", systemdUnit, want)
		}
	}

	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed: the unit is not verified")
	}
	// verify insists that ExecStart's binary exists: point it at this test
	// binary, which does.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	copied := filepath.Join(t.TempDir(), "l2gwd.service")
	if err := os.WriteFile(copied, []byte(strings.Replace(unit, "ExecStart=/usr/local/bin/l2gwd", "ExecStart="+self, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", copied).CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify %s: %v\n%s", systemdUnit, err, out)
	}
}
